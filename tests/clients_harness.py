"""Shared by the clients' test modules: one embedded chain and market per module, the
tiny assessor, and a runner for sessions on them."""

import pytest

from hyperx.impl.clients.session import (
    RunOptions,
    build_session,
    load_task,
    prepare_assessor,
    quality_config,
)

TINY = RunOptions(providers=3, shards=8, quality="tiny")


@pytest.fixture(scope="module")
def embedded():
    from hyperx.impl.clients.session import connect

    return connect(TINY)


@pytest.fixture(scope="module")
def assessor():
    config = quality_config("tiny")
    return prepare_assessor(config, load_task(config, 0), 0)


def new_session(embedded, assessor, tmp_path, **kwargs):
    """A harness with the tiny options on the module's market; kwargs go to RunOptions
    when they are its fields, else to build_session (misbehaviours, abort_after_review)."""
    fields = {k: v for k, v in kwargs.items() if k in RunOptions.__dataclass_fields__}
    extra = {k: v for k, v in kwargs.items() if k not in fields}
    options = RunOptions(**{**TINY.__dict__, "state_dir": tmp_path, **fields})
    return build_session(options, connection=embedded, assessor=assessor, **extra)

"""Shared by the clients' test modules: an embedded chain with a market, the tiny
assessor, and sessions on them (each module holds the first two in module fixtures)."""

from hyperx.impl.clients.session import (
    RunOptions,
    build_session,
    load_task,
    prepare_assessor,
    quality_config,
)

TINY = RunOptions(providers=3, shards=8, quality="tiny")


def make_embedded():
    """(chain, market, funder) on a fresh embedded EVM."""
    from hyperx.impl.clients.session import connect

    return connect(TINY)


def make_assessor():
    config = quality_config("tiny")
    return prepare_assessor(config, load_task(config, 0), 0)


def new_session(embedded, assessor, tmp_path, **kwargs):
    """A harness with the tiny options on the module's market; kwargs go to RunOptions
    when they are its fields, else to build_session (misbehaviours, abort_after_review)."""
    fields = {k: v for k, v in kwargs.items() if k in RunOptions.__dataclass_fields__}
    extra = {k: v for k, v in kwargs.items() if k not in fields}
    options = RunOptions(**{**TINY.__dict__, "state_dir": tmp_path, **fields})
    return build_session(options, connection=embedded, assessor=assessor, **extra)

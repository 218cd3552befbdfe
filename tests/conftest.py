"""Hypothesis profiles shared by the whole suite, and the anvil fixtures.

`default` keeps `make test` fast; `thorough` (HYPERX_PROFILE=thorough) runs 100x
more examples. Each test file sizes its own runs from `profile_scale()`.

`anvil` is a real anvil on loopback for a test module, `fresh_anvil` one for a single
test (one that stops its mining or reorganises it); the tests that use them are
skipped only when node_modules is absent (`make test` installs it).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("default"),
    max_examples=10_000,
)
PROFILE = os.environ.get("HYPERX_PROFILE", "default")
if PROFILE not in ("default", "thorough"):
    raise SystemExit(f"HYPERX_PROFILE must be 'default' or 'thorough', not {PROFILE!r}")
settings.load_profile(PROFILE)


def profile_scale() -> int:
    """How many times more work the thorough profile does."""
    return 100 if PROFILE == "thorough" else 1


def running_anvil():
    from hyperx.impl.clients.anvil import AnvilNode
    from hyperx.impl.datastore.node import find_node_bin

    if find_node_bin("anvil") is None:
        pytest.skip("anvil is not installed: run `npm ci --omit=optional --no-audit --no-fund`")
    with AnvilNode() as node:
        yield node


@pytest.fixture(scope="module")
def anvil():
    yield from running_anvil()


@pytest.fixture
def fresh_anvil():
    yield from running_anvil()

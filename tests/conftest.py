"""Hypothesis profiles shared by the whole suite.

`default` keeps `make test` fast; `thorough` (HYPERX_PROFILE=thorough) runs 100x
more examples. Each test file sizes its own runs from `profile_scale()`.
"""

import os

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

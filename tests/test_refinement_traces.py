"""Saved schedules that once broke the refinement: each is replayed with every check.

A failing schedule found by `hyperx verify` is written as a JSON trace; once the bug
is fixed the trace lands in tests/traces/ and stays a regression test here.
"""

from pathlib import Path

import pytest

from hyperx.verify.refinement import load_trace, replay

TRACES = sorted((Path(__file__).parent / "traces").glob("*.json"))


def test_there_are_saved_traces():
    assert TRACES, "tests/traces/ holds no trace"


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_saved_trace_refines_the_ideal_world(path):
    report = replay(load_trace(path))
    assert report.failures == 0, report.message

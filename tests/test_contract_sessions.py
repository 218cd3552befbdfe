"""Whole sessions, honest up to each stage and then abandoned, on the spec and the
contract at once: close, post-review compensation, the candidate's and the optimal
provider's penalties, refunds; and a reveal in several chunks (above CHUNK_SIZE)."""

import os

import pytest
from contract_twin import Twin, run_honest_session

THOROUGH = os.environ.get("HYPERX_PROFILE") == "thorough"


@pytest.mark.parametrize("late", [0, 1_000, 5_000])
@pytest.mark.parametrize("stage", range(1, 7))
@pytest.mark.parametrize("shards", [1, 5])
def test_session_abandoned_at_each_stage_settles_as_the_spec(shards, stage, late):
    twin = Twin()
    run_honest_session(twin, {}, shards, stage, late)
    if late == 5_000:  # past every deadline: everything has been pulled
        assert twin.balance(twin.contract.address) == 0


@pytest.mark.skipif(not THOROUGH, reason="30 s on py-evm: HYPERX_PROFILE=thorough")
def test_reward_revealed_in_three_chunks_pays_with_the_last():
    twin = Twin()
    sid = run_honest_session(twin, {}, 4_100, 6, 0)
    assert twin.state.sessions[sid].chunks_revealed == 3
    assert twin.received[twin.parties[1]] == 10**18 + 10**17

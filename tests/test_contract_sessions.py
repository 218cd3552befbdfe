"""Whole sessions, honest up to each stage and then abandoned, on the spec and the
contract at once: the deal (paid once the complaint window has passed), post-review
compensation, the candidate's and the optimal provider's penalties, refunds; good
deliveries whose disputes are refused; and junk reviews and master keys (a wrong
key, or an ephemeral key off the curve), each disputed by the collector."""

import pytest
from contract_twin import JUNK, Twin, run_session

REWARD, DEPOSIT = 10**18, 10**17


@pytest.mark.parametrize("late", [0, 1_000, 5_000])
@pytest.mark.parametrize("stage", range(1, 7))
@pytest.mark.parametrize("shards", [1, 5])
def test_session_abandoned_at_each_stage_settles_as_the_spec(shards, stage, late):
    twin = Twin()
    run_session(twin, shards, stage, late)
    if late == 5_000:  # past every deadline: everything has been pulled
        assert twin.balance(twin.contract.address) == 0


def test_the_deal_pays_after_the_complaint_window():
    twin = Twin()
    collector, optimal, regular = twin.parties[:3]
    run_session(twin, 5, 6, 899)  # the window is cf_review_s = 900 s
    assert twin.received[optimal] == 0
    sid = len(twin.state.sessions) - 1
    twin.advance(1)
    assert twin.call("claim_deposit", optimal, 0, sid) == (True, None)
    assert twin.received[optimal] == REWARD + DEPOSIT
    assert twin.call("claim_deposit", regular, 0, sid) == (True, None)
    assert twin.received[collector] == 0
    assert twin.balance(twin.contract.address) == 0


@pytest.mark.parametrize("junk", JUNK)
@pytest.mark.parametrize("stage", [4, 6])
def test_a_disputed_delivery_forfeits_the_deposit_and_refunds_the_reward(stage, junk):
    twin = Twin()
    collector, cheat, regular = twin.parties[:3]
    run_session(twin, 5, stage, 0, junk=junk)  # settled by the dispute: pulls open at once
    assert twin.received[cheat] == 0
    assert twin.received[regular] == DEPOSIT
    assert twin.received[collector] == REWARD + DEPOSIT
    assert twin.balance(twin.contract.address) == 0

"""F_HyperX (Figure 9) on its own: selection, leakage, and the settlement policy."""

import pytest

from hyperx.spec.config import BPS
from hyperx.spec.ideal import (
    ABORTED_AFTER_REVIEW,
    CANDIDATE_FORFEITED,
    CLAIM_REJECTED,
    DEAL_CLOSED,
    NO_DEAL,
    OPTIMAL_FORFEITED,
    REVIEW_REJECTED,
    FHyperX,
    SimulationError,
)
from hyperx.spec.schedule import evaluate_features, extract_features, make_dataset

C, A, B = "0xc", "0xa", "0xb"
REWARD, DEPOSIT, PCT_BPS, SHARDS = 10_000, 1_000, 2_500, 8
EVALUATION, REVIEW, CLAIM = 1_000, 300, 300
FUNDS = {C: 100_000, A: 10_000, B: 10_000}
BLOB = bytes([37]) + b"extractor"
COMPENSATION = REWARD * PCT_BPS // BPS


def open_session(threshold: int = 0) -> FHyperX:
    """F_HyperX with session 0 created by C, and no provider yet."""
    ideal = FHyperX(extract_features, evaluate_features, FUNDS, evaluation_slack_s=100)
    config = {
        "cf_reward": REWARD,
        "cf_deposit": DEPOSIT,
        "cf_pct_bps": PCT_BPS,
        "cf_shards": SHARDS,
        "cf_evaluation_deadline": EVALUATION,
        "cf_review_s": REVIEW,
        "cf_claim_s": CLAIM,
        "adr_theta": b"\x01" * 32,
    }
    ideal.session_create(0, C, config, threshold, BLOB)
    return ideal


def make_session(threshold: int = 0) -> FHyperX:
    """Session 0 with providers A (quality 3) and B (quality 8) sampled and evaluated."""
    ideal = open_session(threshold)
    for pid, quality in ((A, 3), (B, 8)):
        ideal.provider_participate(0, pid, make_dataset(pid, 0, quality, SHARDS), now=10)
        ideal.sample(0, C, pid, [1, 5], now=20)
        ideal.submit_features(0, pid, None, now=30)
    return ideal


def test_honest_session_closes_with_the_best_provider_and_leaks_its_dataset():
    ideal = make_session()
    ideal.end_evaluation(0, now=EVALUATION, available=set())
    ideal.set_candidate(0, C, B, now=EVALUATION + 1)
    ideal.submit_review(0, B, now=EVALUATION + 2)
    assert ideal.leaks == {(0, B, 1), (0, B, 5)}
    ideal.set_optimal(0, C, B, now=EVALUATION + 3)
    ideal.claim_reward(0, B, now=EVALUATION + 4)
    settlement = ideal.finish()[0]
    assert (settlement.outcome, settlement.candidate, settlement.optimal) == (DEAL_CLOSED, B, B)
    assert ideal.leaks == {(0, B, i) for i in range(SHARDS)}
    assert ideal.balances == {C: 100_000 - REWARD, A: 10_000, B: 10_000 + REWARD}


def test_honest_moves_complete_by_liveness():
    ideal = make_session()
    assert ideal.finish()[0].outcome == DEAL_CLOSED
    assert ideal.balances[B] == 10_000 + REWARD


def test_nobody_above_threshold_is_no_deal_and_returns_everything():
    ideal = make_session(threshold=10_000)
    assert ideal.finish()[0].outcome == NO_DEAL
    assert ideal.balances == FUNDS and ideal.leaks == set()


def test_post_review_abortion_compensates_the_candidate():
    ideal = make_session()
    ideal.corrupt(C)
    ideal.set_candidate(0, C, A, now=EVALUATION + 1)  # a corrupted collector picks anyone
    ideal.submit_review(0, A, now=EVALUATION + 2)
    settlement = ideal.finish()[0]
    assert settlement.outcome == ABORTED_AFTER_REVIEW
    assert settlement.payouts == {A: DEPOSIT + COMPENSATION, B: DEPOSIT, C: REWARD - COMPENSATION}
    assert ideal.balances[A] == 10_000 + COMPENSATION and ideal.leaks == {(0, A, 1), (0, A, 5)}


def test_silent_candidate_and_silent_optimal_forfeit_to_the_collector():
    silent_candidate = make_session()
    silent_candidate.corrupt(B)  # its data is all there, so it is still the best
    silent_candidate.end_evaluation(0, now=EVALUATION, available={B})
    assert silent_candidate.finish()[0].outcome == CANDIDATE_FORFEITED
    assert silent_candidate.balances[C] == 100_000 + DEPOSIT
    silent_optimal = make_session()
    silent_optimal.end_evaluation(0, now=EVALUATION, available=set())
    silent_optimal.set_candidate(0, C, B, now=EVALUATION + 1)
    silent_optimal.submit_review(0, B, now=EVALUATION + 2)
    silent_optimal.corrupt(B)
    settlement = silent_optimal.finish()[0]
    assert settlement.outcome == OPTIMAL_FORFEITED and settlement.payouts[B] == 0
    assert silent_optimal.balances[C] == 100_000 + DEPOSIT
    assert silent_optimal.leaks == {(0, B, 1), (0, B, 5)}


def test_cheating_features_fail_the_review_of_an_honest_collector():
    ideal = make_session()
    ideal.corrupt(A)
    ideal.sessions[0].providers[A].has_features = False
    ideal.submit_features(0, A, bytes([255, 255]), now=31)  # better than its data
    ideal.end_evaluation(0, now=EVALUATION, available={A})
    assert ideal.sessions[0].chosen == A
    ideal.set_candidate(0, C, A, now=EVALUATION + 1)
    ideal.submit_review(0, A, now=EVALUATION + 2)
    with pytest.raises(SimulationError, match="honest collector promoted a bad review"):
        ideal.set_optimal(0, C, A, now=EVALUATION + 3)
    assert ideal.finish()[0].outcome == ABORTED_AFTER_REVIEW


@pytest.mark.parametrize(
    ("move", "reason"),
    [
        (lambda i: i.sample(0, C, A, [2], now=40), "sampled twice"),
        (lambda i: i.sample(0, A, B, [2], now=40), "sampled, not the collector"),
        (lambda i: i.set_candidate(0, C, A, now=EVALUATION + 1), "candidate 0xa, best 0xb"),
        (lambda i: i.set_candidate(0, A, B, now=EVALUATION + 1), "set the candidate"),
        (lambda i: i.provider_participate(0, C, None, now=EVALUATION), "late registration"),
        (lambda i: i.claim_reward(0, B, now=EVALUATION + 1), "claimed, not P_opt"),
    ],
)
def test_rejects_moves_no_ideal_adversary_can_make(move, reason):
    ideal = make_session()
    ideal.end_evaluation(0, now=EVALUATION, available=set())
    with pytest.raises(SimulationError, match=reason):
        move(ideal)


def test_rejects_a_sample_above_cf_pct_and_a_review_after_the_deadline():
    ideal = open_session()
    ideal.provider_participate(0, A, make_dataset(A, 0, 5, SHARDS), now=10)
    with pytest.raises(SimulationError, match="sample of 3 > 2"):
        ideal.sample(0, C, A, [0, 1, 2], now=20)
    ideal.sample(0, C, A, [0, 1], now=20)
    ideal.submit_features(0, A, None, now=30)
    ideal.end_evaluation(0, now=EVALUATION, available=set())
    ideal.set_candidate(0, C, A, now=EVALUATION + 1)
    with pytest.raises(SimulationError, match="review after the deadline"):
        ideal.submit_review(0, A, now=EVALUATION + 1 + REVIEW)


def test_the_honest_collector_picks_the_best_available_by_its_own_ranking():
    """F_HyperX ranks by itself: a corrupted provider whose dataset is not all on
    F_DS is passed over, however good its features; ties go to the lower address."""
    ideal = make_session()
    ideal.corrupt(A)
    ideal.sessions[0].providers[A].has_features = False
    ideal.submit_features(0, A, bytes([255, 255]), now=31)
    ideal.end_evaluation(0, now=EVALUATION, available=set())
    assert ideal.sessions[0].chosen == B
    tie = make_session()
    tie.sessions[0].providers[A].score = tie.sessions[0].providers[B].score
    tie.end_evaluation(0, now=EVALUATION, available=set())
    assert tie.sessions[0].chosen == A


def test_a_bad_review_is_disputed_and_a_good_one_cannot_be():
    ideal = make_session()
    ideal.corrupt(B)
    ideal.end_evaluation(0, now=EVALUATION, available={B})
    ideal.set_candidate(0, C, B, now=EVALUATION + 1)
    ideal.submit_review(0, B, now=EVALUATION + 2, keys_good=False)
    assert ideal.leaks == set()
    ideal.dispute_review(0, C, now=EVALUATION + 3)
    settlement = ideal.finish()[0]
    assert settlement.outcome == REVIEW_REJECTED and settlement.payouts[B] == 0
    assert ideal.balances[C] == 100_000 + DEPOSIT
    good = make_session()
    good.end_evaluation(0, now=EVALUATION, available=set())
    good.set_candidate(0, C, B, now=EVALUATION + 1)
    good.submit_review(0, B, now=EVALUATION + 2, keys_good=False)  # honest: good anyway
    with pytest.raises(SimulationError, match="a good review was proven wrong"):
        good.dispute_review(0, C, now=EVALUATION + 3)


def test_a_bad_master_key_is_disputed_within_the_window():
    ideal = make_session()
    ideal.end_evaluation(0, now=EVALUATION, available=set())
    ideal.set_candidate(0, C, B, now=EVALUATION + 1)
    ideal.submit_review(0, B, now=EVALUATION + 2)
    ideal.set_optimal(0, C, B, now=EVALUATION + 3)
    ideal.corrupt(B)
    ideal.claim_reward(0, B, now=EVALUATION + 4, master_good=False)
    assert ideal.leaks == {(0, B, 1), (0, B, 5)}  # the sample only
    with pytest.raises(SimulationError, match="dispute after the window"):
        ideal.dispute_claim(0, C, now=EVALUATION + 4 + REVIEW)
    ideal.dispute_claim(0, C, now=EVALUATION + 5)
    settlement = ideal.finish()[0]
    assert settlement.outcome == CLAIM_REJECTED and settlement.payouts[C] == REWARD + DEPOSIT


def test_an_honest_provider_registered_in_time_must_be_evaluated():
    ideal = open_session()
    ideal.provider_participate(0, A, make_dataset(A, 0, 5, SHARDS), now=10)
    with pytest.raises(SimulationError, match="registered in time but was not evaluated"):
        ideal.end_evaluation(0, now=EVALUATION, available=set())

"""Prot_SC's settlement policy (spec/contract.py): close, post-review abortion,
penalties, expiry refunds, and the guards that end each phase."""

import os

import pytest

from hyperx.spec import contract as sc
from hyperx.spec import merkle

COLLECTOR = "0x" + "aa" * 20
P1, P2, P3 = ("0x" + f"{i:02x}" * 20 for i in (1, 2, 3))
REWARD, DEPOSIT, PCT_BPS, SHARDS = 10_000, 100, 1_000, 20
EVAL_DEADLINE, REVIEW_S, CLAIM_S = 1_000, 100, 50
SAMPLE = [1, 5]


class Session:
    """One session driven straight through the spec's transitions."""

    def __init__(self):
        self.state = sc.MarketState()
        self.paid: dict[str, int] = {}
        self.keys = {p: [os.urandom(32) for _ in range(SHARDS)] for p in (P1, P2, P3)}
        self.sid = self.call(
            "create_session",
            COLLECTOR,
            0,
            REWARD,
            REWARD,
            DEPOSIT,
            PCT_BPS,
            SHARDS,
            EVAL_DEADLINE,
            REVIEW_S,
            CLAIM_S,
            b"\x01" * 32,
        )

    def call(self, name, sender, now, *args):
        """Call `name` at time `now`; a payable interface takes the value first."""
        msg = sc.Msg(sender=sender, now=now)
        if name in sc.PAYABLE:
            msg.value, args = args[0], args[1:]
        result = sc.INTERFACES[name](self.state, msg, *args)
        for to, amount in msg.transfers:
            self.paid[to] = self.paid.get(to, 0) + amount
        return result

    @property
    def session(self) -> sc.Session:
        return self.state.sessions[self.sid]

    def through_features(self, providers=(P1, P2, P3)):
        for p in providers:
            root = merkle.compute_merkle_root(self.keys[p])
            self.call("registration", p, 10, DEPOSIT, self.sid, root, SHARDS)
            self.call("sample_data", COLLECTOR, 20, self.sid, p, SAMPLE)
            self.call("submit_features", p, 30, self.sid, os.urandom(32))

    def review(self, p, now):
        keys = [self.keys[p][i] for i in SAMPLE]
        proofs = [merkle.compute_merkle_proof(self.keys[p], i) for i in SAMPLE]
        self.call("submit_review", p, now, self.sid, SAMPLE, keys, proofs, b"sealed K_data")


def test_an_honest_session_pays_the_reward_and_returns_every_deposit():
    s = Session()
    s.through_features()
    s.call("set_candidate", COLLECTOR, 40, s.sid, P2)
    s.review(P2, 50)
    s.call("set_optimal", COLLECTOR, 60, s.sid, P2)
    s.call("claim_reward", P2, 70, s.sid, 0, s.keys[P2], [])
    assert s.session.st_trade == sc.TradeState.CLOSED
    for p in (P1, P2, P3):
        s.call("claim_deposit", p, 71, s.sid)
    assert s.paid == {P2: REWARD + DEPOSIT, P1: DEPOSIT, P3: DEPOSIT}
    assert sc.get_escrow(s.session) == 0
    with pytest.raises(AssertionError, match="hyperx: session is closed"):
        s.call("claim_refund", COLLECTOR, 10**6, s.sid)


def test_post_review_abortion_compensates_the_candidate():
    s = Session()
    s.through_features()
    s.call("set_candidate", COLLECTOR, 40, s.sid, P1)
    s.review(P1, 50)
    expiry = s.session.deadline
    assert expiry == 50 + REVIEW_S
    with pytest.raises(AssertionError, match="hyperx: session has not expired"):
        s.call("claim_refund", COLLECTOR, expiry - 1, s.sid)
    for p in (P1, P2, P3):
        s.call("claim_deposit", p, expiry, s.sid)
    s.call("claim_refund", COLLECTOR, expiry, s.sid)
    compensation = REWARD * PCT_BPS // 10_000
    assert s.paid == {
        P1: DEPOSIT + compensation,
        P2: DEPOSIT,
        P3: DEPOSIT,
        COLLECTOR: REWARD - compensation,
    }
    assert sc.get_escrow(s.session) == 0


def test_a_silent_candidate_forfeits_its_deposit_to_the_collector():
    s = Session()
    s.through_features()
    s.call("set_candidate", COLLECTOR, 40, s.sid, P3)
    expiry = s.session.deadline
    with pytest.raises(AssertionError, match="hyperx: session expired"):
        s.review(P3, expiry)
    with pytest.raises(AssertionError, match="hyperx: deposit forfeited"):
        s.call("claim_deposit", P3, expiry, s.sid)
    s.call("claim_refund", COLLECTOR, expiry, s.sid)
    s.call("claim_deposit", P1, expiry, s.sid)
    s.call("claim_deposit", P2, expiry, s.sid)
    assert s.paid == {COLLECTOR: REWARD + DEPOSIT, P1: DEPOSIT, P2: DEPOSIT}
    assert sc.get_escrow(s.session) == 0


def test_an_optimal_provider_that_does_not_claim_forfeits_its_deposit():
    s = Session()
    s.through_features()
    s.call("set_candidate", COLLECTOR, 40, s.sid, P2)
    s.review(P2, 50)
    s.call("set_optimal", COLLECTOR, 60, s.sid, P2)
    expiry = s.session.deadline
    assert expiry == 60 + CLAIM_S
    with pytest.raises(AssertionError, match="hyperx: session expired"):
        s.call("claim_reward", P2, expiry, s.sid, 0, s.keys[P2], [])
    s.call("claim_refund", COLLECTOR, expiry, s.sid)
    assert s.paid == {COLLECTOR: REWARD + DEPOSIT}
    with pytest.raises(AssertionError, match="hyperx: deposit forfeited"):
        s.call("claim_deposit", P2, expiry, s.sid)


def test_a_session_without_candidate_expires_and_returns_everything():
    s = Session()
    s.through_features(providers=(P1, P2))
    expiry = EVAL_DEADLINE + REVIEW_S
    assert s.session.deadline == expiry
    with pytest.raises(AssertionError, match="hyperx: session is still open"):
        s.call("claim_deposit", P1, expiry - 1, s.sid)
    with pytest.raises(AssertionError, match="hyperx: session expired"):
        s.call("set_candidate", COLLECTOR, expiry, s.sid, P1)
    s.call("claim_deposit", P1, expiry, s.sid)
    s.call("claim_deposit", P2, expiry, s.sid)
    s.call("claim_refund", COLLECTOR, expiry, s.sid)
    assert s.paid == {P1: DEPOSIT, P2: DEPOSIT, COLLECTOR: REWARD}
    with pytest.raises(AssertionError, match="hyperx: deposit already claimed"):
        s.call("claim_deposit", P1, expiry, s.sid)
    with pytest.raises(AssertionError, match="hyperx: refund already claimed"):
        s.call("claim_refund", COLLECTOR, expiry, s.sid)


def test_no_session_outlives_its_final_deadline():
    s = Session()
    s.through_features()
    final = sc.get_final_deadline(s.session.config)
    # the latest possible moves, each a second before its deadline
    s.call("set_candidate", COLLECTOR, EVAL_DEADLINE + REVIEW_S - 1, s.sid, P1)
    s.review(P1, s.session.deadline - 1)
    s.call("set_optimal", COLLECTOR, s.session.deadline - 1, s.sid, P1)
    assert s.session.deadline <= final
    assert sc.is_expired(s.session, final)


def test_rejects_registration_sampling_and_features_after_the_evaluation_deadline():
    s = Session()
    root = merkle.compute_merkle_root(s.keys[P1])
    with pytest.raises(AssertionError, match="hyperx: evaluation has ended"):
        s.call("registration", P1, EVAL_DEADLINE, DEPOSIT, s.sid, root, SHARDS)
    s.call("registration", P1, EVAL_DEADLINE - 1, DEPOSIT, s.sid, root, SHARDS)
    with pytest.raises(AssertionError, match="hyperx: evaluation has ended"):
        s.call("sample_data", COLLECTOR, EVAL_DEADLINE, s.sid, P1, SAMPLE)


def test_rejects_a_sample_beyond_cf_pct_or_out_of_order():
    s = Session()
    root = merkle.compute_merkle_root(s.keys[P1])
    s.call("registration", P1, 10, DEPOSIT, s.sid, root, SHARDS)
    bound = SHARDS * PCT_BPS // 10_000
    with pytest.raises(AssertionError, match="hyperx: sample size out of bounds"):
        s.call("sample_data", COLLECTOR, 20, s.sid, P1, list(range(bound + 1)))
    with pytest.raises(
        AssertionError, match="hyperx: sample indices not ascending or out of range"
    ):
        s.call("sample_data", COLLECTOR, 20, s.sid, P1, [5, 1])
    with pytest.raises(
        AssertionError, match="hyperx: sample indices not ascending or out of range"
    ):
        s.call("sample_data", COLLECTOR, 20, s.sid, P1, [SHARDS])
    with pytest.raises(AssertionError, match="hyperx: caller is not the collector"):
        s.call("sample_data", P1, 20, s.sid, P1, SAMPLE)


def test_rejects_a_review_with_keys_outside_the_commitment():
    s = Session()
    s.through_features()
    s.call("set_candidate", COLLECTOR, 40, s.sid, P1)
    keys = [s.keys[P2][i] for i in SAMPLE]
    proofs = [merkle.compute_merkle_proof(s.keys[P2], i) for i in SAMPLE]
    with pytest.raises(AssertionError, match="hyperx: invalid Merkle proof"):
        s.call("submit_review", P1, 50, s.sid, SAMPLE, keys, proofs, b"k")
    with pytest.raises(AssertionError, match="hyperx: indices do not match the sample"):
        s.call("submit_review", P1, 50, s.sid, [1, 6], keys, proofs, b"k")
    with pytest.raises(AssertionError, match="hyperx: caller is not the candidate"):
        s.review(P2, 50)

"""Prot_SC's settlement policy (spec/contract.py): a deal, post-review abortion,
penalties, the two disputes, settlement refunds, and the guards that end each phase."""

import os

import pytest

from hyperx.spec import contract as sc
from hyperx.spec import merkle, sealing, secp256k1
from hyperx.spec.config import MASTER_KEY_SLOT, MIN_PERIOD_S

COLLECTOR = "0x" + "aa" * 20
P1, P2, P3 = ("0x" + f"{i:02x}" * 20 for i in (1, 2, 3))
REWARD, DEPOSIT, PCT_BPS, SHARDS = 10_000, 100, 1_000, 20
EVAL_DEADLINE, REVIEW_S, CLAIM_S = 1_000, MIN_PERIOD_S, MIN_PERIOD_S + 50
SAMPLE = [1, 5]
REVIEW_SECRET = secp256k1.derive_secret(b"test review key")
REVIEW_KEY = secp256k1.compute_public_key(REVIEW_SECRET)


class Dataset:
    """A provider's commitment: master key, shard keys, content addresses, leaves."""

    def __init__(self):
        self.master = os.urandom(32)
        self.keys = [sealing.compute_shard_key(self.master, i) for i in range(SHARDS)]
        self.cids = [os.urandom(32) for _ in range(SHARDS)]
        self.hashes = [sealing.compute_key_hash(k) for k in self.keys]
        self.leaves = [
            merkle.compute_leaf(c, h) for c, h in zip(self.cids, self.hashes, strict=True)
        ]
        self.root = merkle.compute_merkle_root(self.leaves)


class Session:
    """One session driven straight through the spec's transitions."""

    def __init__(self):
        self.state = sc.MarketState()
        self.paid: dict[str, int] = {}
        self.data = {p: Dataset() for p in (P1, P2, P3)}
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
            manifest = os.urandom(32)
            self.call("registration", p, 10, DEPOSIT, self.sid, self.data[p].root, SHARDS, manifest)
            self.call("sample_data", COLLECTOR, 20, self.sid, p, SAMPLE)
            self.call("submit_features", p, 30, self.sid, os.urandom(32))

    def review_args(self, p, keys=None):
        data = self.data[p]
        keys = [data.keys[i] for i in SAMPLE] if keys is None else keys
        ephemeral, sealed = sealing.seal_keys(
            REVIEW_KEY, keys, self.sid, list(range(len(SAMPLE))), sealing.draw_ephemeral(b"e")
        )
        return (
            self.sid,
            SAMPLE,
            [data.cids[i] for i in SAMPLE],
            [data.hashes[i] for i in SAMPLE],
            [merkle.compute_merkle_proof(data.leaves, i) for i in SAMPLE],
            ephemeral,
            sealed,
        )

    def review(self, p, now, keys=None):
        args = self.review_args(p, keys)
        self.call("submit_review", p, now, *args)
        return args

    def claim(self, p, now, master=None):
        master = self.data[p].master if master is None else master
        ephemeral, sealed = sealing.seal_master_key(
            REVIEW_KEY, master, self.sid, sealing.draw_ephemeral(b"c")
        )
        self.call("claim_reward", p, now, self.sid, ephemeral, sealed)
        return ephemeral, sealed

    def dispute_claim(self, p, now, ephemeral, sealed, index, secret=REVIEW_SECRET):
        data = self.data[p]
        proof = merkle.compute_merkle_proof(data.leaves, index)
        args = (secret, ephemeral, sealed, index, data.cids[index], data.hashes[index], proof)
        self.call("dispute_claim", COLLECTOR, now, self.sid, *args)

    def to_review(self, p, now=40):
        self.through_features()
        self.call("set_candidate", COLLECTOR, now, self.sid, p, REVIEW_KEY)


def test_an_honest_session_pays_the_reward_after_the_complaint_window():
    s = Session()
    s.to_review(P2)
    s.review(P2, 50)
    s.call("set_optimal", COLLECTOR, 60, s.sid, P2)
    s.claim(P2, 70)
    assert s.session.st_trade == sc.TradeState.CLOSED
    window_end = 70 + REVIEW_S
    assert s.session.deadline == window_end
    with pytest.raises(AssertionError, match="hyperx: session is still open"):
        s.call("claim_deposit", P2, window_end - 1, s.sid)
    for p in (P1, P2, P3):
        s.call("claim_deposit", p, window_end, s.sid)
    assert s.paid == {P2: REWARD + DEPOSIT, P1: DEPOSIT, P3: DEPOSIT}
    assert sc.get_escrow(s.session) == 0
    with pytest.raises(AssertionError, match="hyperx: session is closed"):
        s.call("claim_refund", COLLECTOR, 10**6, s.sid)


def test_post_review_abortion_compensates_the_candidate():
    s = Session()
    s.to_review(P1)
    s.review(P1, 50)
    expiry = s.session.deadline
    assert expiry == 50 + REVIEW_S
    with pytest.raises(AssertionError, match="hyperx: session is still open"):
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


def test_a_junk_review_is_disputed_and_costs_the_candidate_its_deposit():
    """Issue 9, attack 1: a review whose sealed keys are not the committed ones
    earns nothing; the collector proves it and takes the deposit."""
    s = Session()
    s.to_review(P1)
    _, _, _, hashes, _, ephemeral, sealed = s.review(P1, 50, keys=[os.urandom(32)] * 2)
    with pytest.raises(AssertionError, match="hyperx: secret is not the review key's"):
        s.call(
            "dispute_review", COLLECTOR, 60, s.sid, REVIEW_SECRET + 1, ephemeral, sealed, hashes, 0
        )
    with pytest.raises(AssertionError, match="hyperx: not the submitted review"):
        s.call(
            "dispute_review",
            COLLECTOR,
            60,
            s.sid,
            REVIEW_SECRET,
            ephemeral,
            sealed[::-1],
            hashes,
            0,
        )
    with pytest.raises(AssertionError, match="hyperx: caller is not the collector"):
        s.call("dispute_review", P2, 60, s.sid, REVIEW_SECRET, ephemeral, sealed, hashes, 0)
    s.call("dispute_review", COLLECTOR, 60, s.sid, REVIEW_SECRET, ephemeral, sealed, hashes, 1)
    assert s.session.review_rejected and s.session.deadline == 60
    with pytest.raises(AssertionError, match="hyperx: session expired"):
        s.call("set_optimal", COLLECTOR, 60, s.sid, P1)
    with pytest.raises(AssertionError, match="hyperx: deposit forfeited"):
        s.call("claim_deposit", P1, 60, s.sid)
    for p in (P2, P3):
        s.call("claim_deposit", p, 60, s.sid)
    s.call("claim_refund", COLLECTOR, 60, s.sid)
    assert s.paid == {P2: DEPOSIT, P3: DEPOSIT, COLLECTOR: REWARD + DEPOSIT}
    assert sc.get_escrow(s.session) == 0


def test_a_good_review_cannot_be_disputed():
    s = Session()
    s.to_review(P1)
    _, _, _, hashes, _, ephemeral, sealed = s.review(P1, 50)
    for position in (0, 1):
        with pytest.raises(AssertionError, match="hyperx: sealed key is valid"):
            s.call(
                "dispute_review",
                COLLECTOR,
                60,
                s.sid,
                REVIEW_SECRET,
                ephemeral,
                sealed,
                hashes,
                position,
            )
    with pytest.raises(AssertionError, match="hyperx: position out of range"):
        s.call("dispute_review", COLLECTOR, 60, s.sid, REVIEW_SECRET, ephemeral, sealed, hashes, 2)


def test_a_review_sealed_to_no_point_is_disputed():
    s = Session()
    s.to_review(P1)
    args = list(s.review_args(P1))
    args[5] = (5).to_bytes(32, "big") + (1).to_bytes(32, "big")  # x = 5 is not on the curve
    s.call("submit_review", P1, 50, *args)
    s.call("dispute_review", COLLECTOR, 60, s.sid, REVIEW_SECRET, args[5], args[6], args[3], 0)
    assert s.session.review_rejected


def test_a_junk_master_key_is_disputed_and_the_reward_goes_back():
    s = Session()
    s.to_review(P2)
    s.review(P2, 50)
    s.call("set_optimal", COLLECTOR, 60, s.sid, P2)
    ephemeral, sealed = s.claim(P2, 70, master=os.urandom(32))
    with pytest.raises(AssertionError, match="hyperx: invalid Merkle proof"):
        data = s.data[P1]
        proof = merkle.compute_merkle_proof(data.leaves, 3)
        s.call(
            "dispute_claim",
            COLLECTOR,
            80,
            s.sid,
            REVIEW_SECRET,
            ephemeral,
            sealed,
            3,
            data.cids[3],
            data.hashes[3],
            proof,
        )
    with pytest.raises(AssertionError, match="hyperx: not the delivered key"):
        s.dispute_claim(P2, 80, ephemeral, os.urandom(32), 3)
    s.dispute_claim(P2, 80, ephemeral, sealed, 3)
    assert s.session.claim_rejected and s.session.deadline == 80
    with pytest.raises(AssertionError, match="hyperx: deposit forfeited"):
        s.call("claim_deposit", P2, 80, s.sid)
    s.call("claim_refund", COLLECTOR, 80, s.sid)
    assert s.paid == {COLLECTOR: REWARD + DEPOSIT}


def test_a_good_master_key_cannot_be_disputed_and_is_paid():
    s = Session()
    s.to_review(P2)
    s.review(P2, 50)
    s.call("set_optimal", COLLECTOR, 60, s.sid, P2)
    ephemeral, sealed = s.claim(P2, 70)
    for index in (0, SAMPLE[0], SHARDS - 1):
        with pytest.raises(AssertionError, match="hyperx: master key is valid"):
            s.dispute_claim(P2, 80, ephemeral, sealed, index)
    window_end = s.session.deadline
    with pytest.raises(AssertionError, match="hyperx: session expired"):
        s.dispute_claim(P2, window_end, ephemeral, sealed, 0)
    s.call("claim_deposit", P2, window_end, s.sid)
    assert s.paid == {P2: REWARD + DEPOSIT}
    master = sealing.open_sealed_key(REVIEW_SECRET, ephemeral, sealed, s.sid, MASTER_KEY_SLOT)
    assert master == s.data[P2].master


def test_a_silent_candidate_forfeits_its_deposit_to_the_collector():
    s = Session()
    s.to_review(P3)
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
    s.to_review(P2)
    s.review(P2, 50)
    s.call("set_optimal", COLLECTOR, 60, s.sid, P2)
    expiry = s.session.deadline
    assert expiry == 60 + CLAIM_S
    with pytest.raises(AssertionError, match="hyperx: session expired"):
        s.claim(P2, expiry)
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
        s.call("set_candidate", COLLECTOR, expiry, s.sid, P1, REVIEW_KEY)
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
    s.call("set_candidate", COLLECTOR, EVAL_DEADLINE + REVIEW_S - 1, s.sid, P1, REVIEW_KEY)
    s.review(P1, s.session.deadline - 1)
    s.call("set_optimal", COLLECTOR, s.session.deadline - 1, s.sid, P1)
    s.claim(P1, s.session.deadline - 1)
    assert s.session.deadline <= final
    assert sc.is_settled(s.session, final)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("review", MIN_PERIOD_S - 1, "hyperx: review period out of range"),
        ("claim", 1, "hyperx: claim period out of range"),
        ("evaluation", MIN_PERIOD_S - 1, "hyperx: evaluation deadline out of range"),
    ],
)
def test_rejects_a_session_with_periods_below_the_minimum(field, value, reason):
    """Issue 9, attack 2: one-second periods would let the collector make the optimal
    provider miss its claim; no such session can be created."""
    periods = {"evaluation": MIN_PERIOD_S, "review": MIN_PERIOD_S, "claim": MIN_PERIOD_S}
    periods[field] = value
    state, msg = sc.MarketState(), sc.Msg(sender=COLLECTOR, value=REWARD, now=0)
    args = (REWARD, DEPOSIT, PCT_BPS, SHARDS, periods["evaluation"], periods["review"])
    with pytest.raises(AssertionError, match=reason):
        sc.process_create_session(state, msg, *args, periods["claim"], b"\x01" * 32)
    periods[field] = MIN_PERIOD_S
    args = (REWARD, DEPOSIT, PCT_BPS, SHARDS, periods["evaluation"], periods["review"])
    sc.process_create_session(state, msg, *args, periods["claim"], b"\x01" * 32)


def test_rejects_registration_sampling_and_features_after_the_evaluation_deadline():
    s = Session()
    root, manifest = s.data[P1].root, os.urandom(32)
    with pytest.raises(AssertionError, match="hyperx: evaluation has ended"):
        s.call("registration", P1, EVAL_DEADLINE, DEPOSIT, s.sid, root, SHARDS, manifest)
    with pytest.raises(AssertionError, match="hyperx: manifest address is empty"):
        s.call("registration", P1, 10, DEPOSIT, s.sid, root, SHARDS, bytes(32))
    s.call("registration", P1, EVAL_DEADLINE - 1, DEPOSIT, s.sid, root, SHARDS, manifest)
    with pytest.raises(AssertionError, match="hyperx: evaluation has ended"):
        s.call("sample_data", COLLECTOR, EVAL_DEADLINE, s.sid, P1, SAMPLE)


def test_rejects_a_sample_beyond_cf_pct_or_out_of_order():
    s = Session()
    s.call("registration", P1, 10, DEPOSIT, s.sid, s.data[P1].root, SHARDS, os.urandom(32))
    bound = SHARDS * PCT_BPS // 10_000
    with pytest.raises(AssertionError, match="hyperx: sample size out of bounds"):
        s.call("sample_data", COLLECTOR, 20, s.sid, P1, list(range(bound + 1)))
    for indices in ([5, 1], [SHARDS]):
        with pytest.raises(
            AssertionError, match="hyperx: sample indices not ascending or out of range"
        ):
            s.call("sample_data", COLLECTOR, 20, s.sid, P1, indices)
    with pytest.raises(AssertionError, match="hyperx: caller is not the collector"):
        s.call("sample_data", P1, 20, s.sid, P1, SAMPLE)


def test_rejects_a_review_with_leaves_outside_the_commitment():
    s = Session()
    s.to_review(P1)
    args = list(s.review_args(P2))  # P2's leaves, submitted by P1
    with pytest.raises(AssertionError, match="hyperx: invalid Merkle proof"):
        s.call("submit_review", P1, 50, *args)
    args = list(s.review_args(P1))
    args[1] = [1, 6]
    with pytest.raises(AssertionError, match="hyperx: indices do not match the sample"):
        s.call("submit_review", P1, 50, *args)
    with pytest.raises(AssertionError, match="hyperx: caller is not the candidate"):
        s.review(P2, 50)
    args = list(s.review_args(P1))
    args[5] = args[5][:63]
    with pytest.raises(AssertionError, match="hyperx: ephemeral key must be 64 bytes"):
        s.call("submit_review", P1, 50, *args)


def test_rejects_a_review_key_that_is_not_a_point_size():
    s = Session()
    s.through_features()
    with pytest.raises(AssertionError, match="hyperx: review key must be 64 bytes"):
        s.call("set_candidate", COLLECTOR, 40, s.sid, P1, REVIEW_KEY[:33])

"""Each way a provider can cheat (`Misbehaviour`), played through a whole session: who
catches it, how the session ends, and what every party's balance moved, to the wei
(less the fees it paid), on the spec's F_BC and on the Vyper market.

R is the reward, D the deposit, C = CF_% * R the compensation of a candidate whose
review stood unanswered (`tests.clients_harness`).
"""

from pathlib import Path

import pytest

from hyperx.impl.clients.artifacts import decode_shard
from hyperx.impl.clients.provider import Misbehaviour
from hyperx.impl.clients.session import load_task
from hyperx.impl.clients.state import FAILED
from hyperx.impl.datastore import bytes32_to_cid
from hyperx.impl.quality import pipeline
from tests.clients_harness import (
    TINY,
    C,
    D,
    R,
    events,
    make_assessor,
    make_embedded,
    net_of_fees,
    new_session,
    view_of,
)

TIMEOUT_S = 300


@pytest.fixture(scope="module")
def assessor():
    return make_assessor()


@pytest.fixture(scope="module", params=["spec", "evm"])
def venue(request):
    """Where the sessions run: a fresh F_BC of the spec per session (None), or one
    embedded EVM with the Vyper market for the module, where gas is paid."""
    return None if request.param == "spec" else make_embedded()


def settle(harness) -> dict:
    """Run the session to its end; each party's balance change, its fees given back."""
    harness.run(TIMEOUT_S)
    assert harness.ledger.market_balance() == 0  # the escrow paid out everything it held
    return net_of_fees(harness)


def test_honest_provider_is_paid_by_claim_deposit_once_the_complaint_window_passed(
    venue, assessor, tmp_path
):
    harness = new_session(venue, assessor, tmp_path, providers=2)
    moved = settle(harness)
    collector = harness.collector
    optimal = next(p for p in harness.providers if p.address == collector.facts()["optimal"])
    other = next(p for p in harness.providers if p is not optimal)
    assert harness.report().state == "closed"
    assert collector.facts()["dataset"] == f"8 shards, {len(optimal.x)} entries verified"
    assert moved == {collector.address: -R, optimal.address: R, other.address: 0}
    assert (optimal.facts()["payout"], other.facts()["payout"]) == (D + R, D)
    (claim,) = events(harness, "ClaimReward")
    paid = next(e for e in events(harness, "ClaimDeposit") if e.args["pid"] == optimal.address)
    assert harness.ledger.timestamp(paid.block_number) >= claim.args["deadline"]
    assert claim.args["deadline"] == harness.ledger.timestamp(claim.block_number) + TINY.review_s


def test_wrong_sample_keys_are_disputed_and_the_candidate_forfeits(venue, assessor, tmp_path):
    cheat = {0: Misbehaviour(wrong_sample_keys=True)}
    harness = new_session(venue, assessor, tmp_path, providers=1, misbehaviours=cheat)
    moved = settle(harness)
    collector, (provider,) = harness.collector, harness.providers
    review = collector.providers()[provider.address]["review"]
    assert review.startswith("disputed: the sealed key of shard ")
    (dispute,) = events(harness, "DisputeReview")
    assert dispute.args["pid"] == provider.address and dispute.args["position"] == 0
    assert harness.report().state == "review disputed"
    (view,) = view_of(harness)["sessions"]
    assert (view["state"], view["refund_wei"]) == ("review disputed", R + D)
    assert [(p["stage"], p["forfeited"], p["returned_wei"]) for p in view["providers"]] == [
        ("review disputed", True, None)
    ]
    assert collector.state.intent("set_optimal") is None
    assert collector.facts()["refund"] == R + D
    # its claim is refused by the dry run: nothing is sent, and it is done
    claim = provider.state.intent(f"claim_deposit:{provider.session()}")
    assert (claim.status, claim.detail, claim.hashes) == (FAILED, "hyperx: deposit forfeited", [])
    assert provider.is_settled()
    assert moved == {collector.address: D, provider.address: -D}


def test_a_wrong_master_key_is_disputed_in_the_complaint_window(venue, assessor, tmp_path):
    cheat = {0: Misbehaviour(wrong_master_key=True)}
    harness = new_session(venue, assessor, tmp_path, providers=1, misbehaviours=cheat)
    moved = settle(harness)
    collector, (provider,) = harness.collector, harness.providers
    assert collector.providers()[provider.address]["review"] == "accepted"
    (dispute,) = events(harness, "DisputeClaim")
    (claim,) = events(harness, "ClaimReward")
    assert dispute.args["index"] == 0 and dispute.block_number > claim.block_number
    assert harness.ledger.timestamp(dispute.block_number) < claim.args["deadline"]
    assert harness.report().state == "closed, claim disputed"
    (view,) = view_of(harness)["sessions"]
    assert (view["state"], view["optimal"], view["refund_wei"]) == (
        "closed, claim disputed",
        provider.address,
        R + D,
    )
    assert [(p["stage"], p["forfeited"]) for p in view["providers"]] == [("claim disputed", True)]
    assert collector.facts()["dataset"] == "disputed: the master key does not give shard 0's key"
    assert collector.facts()["refund"] == R + D
    assert "payout" not in provider.facts()
    assert moved == {collector.address: D, provider.address: -D}


def test_features_of_other_data_fail_the_review_and_cost_the_compensation(
    venue, assessor, tmp_path
):
    """The documented residual: not provable on chain, so the candidate is compensated."""
    task = load_task(assessor.config, 0)
    other = task.pool_x[::-1].copy(), task.pool_y[::-1].copy()  # not the committed shards
    cheat = {0: Misbehaviour(features_of=other)}
    harness = new_session(venue, assessor, tmp_path, providers=1, misbehaviours=cheat)
    moved = settle(harness)
    collector, (provider,) = harness.collector, harness.providers
    assert collector.providers()[provider.address]["review"] == (
        "rejected: the sampled shards do not produce the submitted features"
    )
    assert collector.state.intent("set_optimal") is None
    assert events(harness, "DisputeReview") == []
    assert harness.report().state == "expired while reviewing"
    (view,) = view_of(harness)["sessions"]
    assert view["state"] == "expired while reviewing"
    assert [(p["stage"], p["reward_wei"]) for p in view["providers"]] == [("compensated", C)]
    assert (provider.facts()["payout"], collector.facts()["refund"]) == (D + C, R - C)
    assert moved == {collector.address: -C, provider.address: C}


def test_junk_shards_in_the_sample_stand_unanswered_and_the_sample_is_kept(
    venue, assessor, tmp_path
):
    """Shards whose ciphertext their committed key does not open: not provable on chain,
    so the candidate is compensated, and the collector keeps the sampled shards that do
    decrypt (it paid for them)."""
    cheat = {0: Misbehaviour(junk_shards=tuple(range(7)))}  # shard 7 alone is real
    harness = new_session(venue, assessor, tmp_path, providers=1, misbehaviours=cheat)
    moved = settle(harness)
    collector, (provider,) = harness.collector, harness.providers
    (sampled,) = events(harness, "SampleData")
    junk = [i for i in sampled.args["indices"] if i != 7]
    row = collector.providers()[provider.address]
    assert row["review"] == (
        f"rejected: sampled shards {', '.join(map(str, junk))} do not decrypt under keys"
        " that match their commitments (not provable on chain)"
    )
    assert events(harness, "DisputeReview") == [] and collector.state.intent("set_optimal") is None
    assert row["sample_shards"] == [i for i in sampled.args["indices"] if i == 7]
    kept = decode_shard(collector.state.read_secret_file(Path(row["sample_path"]).name), "sample")
    assert len(kept[1]) == (len(provider.y) // 8 if 7 in sampled.args["indices"] else 0)
    assert (provider.facts()["payout"], collector.facts()["refund"]) == (D + C, R - C)
    assert moved == {collector.address: -C, provider.address: C}


def test_features_of_a_foreign_extractor_are_never_scored(venue, assessor, tmp_path):
    foreign, _ = pipeline.publish(assessor.m_init, assessor.config.extractor_depth, seed=99)
    cheat = {0: Misbehaviour(foreign_extractor=foreign)}
    harness = new_session(venue, assessor, tmp_path, providers=2, misbehaviours=cheat)
    moved = settle(harness)
    collector, (cheater, honest) = harness.collector, harness.providers
    rejected = collector.providers()[cheater.address]
    assert rejected["status"] == "rejected" and "accuracy" not in rejected
    assert "was extracted with extractor" in rejected["reason"]
    assert collector.facts()["optimal"] == honest.address
    assert harness.report().state == "closed"
    assert moved == {collector.address: -R, cheater.address: 0, honest.address: R}


def test_a_provider_that_withholds_its_shards_is_never_a_candidate(venue, assessor, tmp_path):
    """It stores only what the collector samples: its features score, but its dataset
    is not all there when the collector fetches it, so it is passed over."""
    cheat = {0: Misbehaviour(withhold=True)}
    harness = new_session(venue, assessor, tmp_path, providers=1, misbehaviours=cheat)
    moved = settle(harness)
    collector, (provider,) = harness.collector, harness.providers
    facts = collector.providers()[provider.address]
    assert facts["status"] == "scored" and facts["eligible"]
    missing = min(set(range(8)) - set(facts["indices"]))
    cid = provider.facts()["cids"][missing]
    assert facts["passed_over"].startswith("block bafkrei")
    assert "is not in the store" in facts["passed_over"]
    assert not harness.store.has(bytes32_to_cid(cid))
    assert collector.facts()["candidate"] is None and events(harness, "SetCandidate") == []
    assert harness.report().state == "expired while pending"
    assert (provider.facts()["payout"], collector.facts()["refund"]) == (D, R)
    assert moved == {collector.address: 0, provider.address: 0}

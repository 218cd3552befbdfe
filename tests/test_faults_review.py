"""Faults a real deployment meets around the review and settlement, on the spec's F_BC
and the embedded store: an aborting collector, a session nobody wins, a provider that
copies another's features, a collector that names a review key nobody can seal to,
tampered files on the datastore, and an offer that is not there."""

import dataclasses

import pytest

from hyperx.impl.clients.ledger import Account
from hyperx.impl.datastore.cid import bytes32_to_cid
from tests.clients_harness import C, D, R, make_assessor, net_of_fees, new_session

TIMEOUT_S = 300


@pytest.fixture(scope="module")
def assessor():
    return make_assessor()


def test_collector_that_aborts_after_review_pays_the_compensation(assessor, tmp_path):
    harness = new_session(None, assessor, tmp_path, providers=1, abort_after_review=True)
    harness.run(TIMEOUT_S)
    collector, (provider,) = harness.collector, harness.providers
    assert collector.providers()[provider.address]["review"] == "accepted"
    assert harness.report().state == "expired while reviewing"
    assert (provider.facts()["payout"], collector.facts()["refund"]) == (D + C, R - C)
    assert net_of_fees(harness) == {collector.address: -C, provider.address: C}


def test_session_left_to_expire_returns_every_deposit_and_the_reward(assessor, tmp_path):
    picky = dataclasses.replace(assessor, config=assessor.config.replace(score_threshold=1.01))
    harness = new_session(None, picky, tmp_path, providers=2)
    harness.run(TIMEOUT_S)
    assert harness.collector.facts()["candidate"] is None  # no score reaches the threshold
    assert harness.report().state == "expired while pending"
    assert harness.collector.facts()["refund"] == R
    assert all(p.facts()["payout"] == D for p in harness.providers)
    assert set(net_of_fees(harness).values()) == {0}  # everything escrowed came back
    assert harness.ledger.market_balance() == 0


def test_copied_features_do_not_open_and_are_never_scored(assessor, tmp_path):
    """A copier submits another provider's sealed features as its own: they are sealed
    to the other's context, so they do not open under the copier's."""
    harness = new_session(None, assessor, tmp_path, providers=2)
    honest, copier = harness.providers

    def copy_features(event):
        if event.args["pid"] == honest.address:
            sid = event.args["sid"]
            copier.intend(
                f"submit_features:{sid}", "submit_features", sid, event.args["adr_feature"]
            )

    copier.on_SampleData = lambda event: None  # it computes nothing itself
    copier.on_SubmitFeatures = copy_features
    harness.run(TIMEOUT_S)
    collector = harness.collector
    rejected = collector.providers()[copier.address]
    assert rejected["status"] == "rejected" and "accuracy" not in rejected
    assert rejected["reason"] == (
        "the sealed payload was sealed for another session or provider (context differs)"
    )
    assert rejected["features_cid"] == collector.providers()[honest.address]["features_cid"]
    assert collector.facts()["optimal"] == honest.address
    assert net_of_fees(harness) == {collector.address: -R, honest.address: R, copier.address: 0}


def test_a_review_key_that_is_not_a_point_gets_a_review_nobody_can_dispute(assessor, tmp_path):
    """The contract takes any 64 bytes as the review key; one off the curve has no
    secret. The candidate answers in time with seals nobody can open, the collector's
    dispute cannot prove anything (its dry run fails), and the candidate is
    compensated: naming such a key only costs the collector."""
    harness = new_session(None, assessor, tmp_path, providers=1)
    collector, (provider,) = harness.collector, harness.providers
    collector.review_key = lambda: b"\x00" * 63 + b"\x07"  # (0, 7) is not on secp256k1
    harness.run(TIMEOUT_S)
    assert provider.state.intent(f"submit_review:{provider.session()}").status == "mined"
    dispute = collector.state.intent("dispute_review")
    assert (dispute.status, dispute.detail) == ("failed", "hyperx: secret is not the review key's")
    assert harness.report().state == "expired while reviewing"
    assert net_of_fees(harness) == {collector.address: -C, provider.address: C}


def test_detects_a_tampered_feature_file(assessor, tmp_path):
    harness = new_session(None, assessor, tmp_path, providers=2)
    victim, other = harness.providers
    harness.run(TIMEOUT_S, until=lambda: "features_cid" in victim.facts())
    cid = victim.facts()["features_cid"]
    harness.store.block_path(cid).write_bytes(b"tampered features")
    harness.run(TIMEOUT_S)
    rejected = harness.collector.providers()[victim.address]
    assert rejected["status"] == "rejected"
    assert f"block {cid} is corrupt" in rejected["reason"]
    assert harness.collector.facts()["optimal"] == other.address  # the other one wins
    assert harness.report().state == "closed"


@pytest.mark.parametrize("sampled", [True, False], ids=["sampled_shard", "unsampled_shard"])
def test_a_tampered_shard_passes_the_provider_over(assessor, tmp_path, sampled):
    """The collector fetches every shard before naming a candidate: a shard changed on
    the store, sampled or not, means the dataset is not all there."""
    harness = new_session(None, assessor, tmp_path, providers=1)
    (provider,) = harness.providers
    harness.run(TIMEOUT_S, until=lambda: "features_cid" in provider.facts())
    facts = provider.facts()
    unsampled = set(range(len(facts["cids"]))) - set(facts["indices"])
    index = facts["indices"][0] if sampled else min(unsampled)
    cid = bytes32_to_cid(facts["cids"][index])
    harness.store.block_path(cid).write_bytes(b"tampered shard")
    harness.run(TIMEOUT_S)
    passed_over = harness.collector.providers()[provider.address]["passed_over"]
    assert passed_over.startswith(f"block {cid} is corrupt")
    assert harness.report().state == "expired while pending"
    assert net_of_fees(harness) == {harness.collector.address: 0, provider.address: 0}


def test_providers_skip_a_session_whose_offer_is_not_on_the_store(assessor, tmp_path):
    harness = new_session(None, assessor, tmp_path, providers=2)
    stranger = Account.create()
    harness.venue.fund(stranger.address, 2 * R)
    now = harness.ledger.timestamp(harness.ledger.head())
    bogus = [R, D, 2_500, 8, now + 3_600, 600, 600, b"\x07" * 32]
    harness.ledger.send(stranger, "create_session", bogus, R)  # opened first
    harness.run(TIMEOUT_S, until=lambda: all(p.session() is not None for p in harness.providers))
    real = harness.providers[0].session()
    assert harness.ledger.get_session(real)["collector"] == harness.collector.address
    for provider in harness.providers:
        assert provider.session() == real
        skipped = provider.state.get("provider", f"skipped:{real - 1}")
        assert skipped.startswith("block bafkrei") and "is not in the store" in skipped

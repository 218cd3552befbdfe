"""Faults a real deployment meets at review and settlement, on the embedded EVM and
store: an aborting collector, a session nobody wins, lying candidates, and tampered
files on the datastore."""

import dataclasses

import pytest

from hyperx.impl.clients.ledger import Account
from hyperx.impl.clients.provider import Misbehaviour
from hyperx.impl.clients.session import RunOptions, load_task
from hyperx.impl.datastore.cid import bytes32_to_cid
from hyperx.impl.quality import pipeline
from tests.clients_harness import make_assessor, make_embedded, new_session


@pytest.fixture(scope="module")
def embedded():
    return make_embedded()


@pytest.fixture(scope="module")
def assessor():
    return make_assessor()


OPTIONS = RunOptions()
COMPENSATION = OPTIONS.reward_wei * OPTIONS.pct_bps // 10_000
TIMEOUT_S = 300


def deltas(harness) -> dict:
    return {
        party.address: harness.ledger.balance(party.address) - harness.start_balances[party.address]
        for party in harness.parties()
    }


def fees(party) -> int:
    return party.gas()[1]


def verdicts(harness) -> dict:
    return {
        pid: facts.get("review")
        for pid, facts in harness.collector.providers().items()
        if facts.get("review")
    }


def test_collector_that_aborts_after_review_pays_the_compensation(embedded, assessor, tmp_path):
    harness = new_session(embedded, assessor, tmp_path, providers=1, abort_after_review=True)
    harness.run(TIMEOUT_S)
    (provider,) = harness.providers
    assert verdicts(harness) == {provider.address: "accepted"}
    assert harness.report().state == "expired while reviewing"
    assert provider.facts()["deposit_returned"] == OPTIONS.deposit_wei + COMPENSATION
    assert harness.collector.facts()["refund"] == OPTIONS.reward_wei - COMPENSATION
    moved = deltas(harness)
    assert moved[provider.address] == COMPENSATION - fees(provider)
    assert moved[harness.collector.address] == -COMPENSATION - fees(harness.collector)


def test_session_left_to_expire_returns_every_deposit_and_the_reward(embedded, assessor, tmp_path):
    picky = dataclasses.replace(assessor, config=assessor.config.replace(score_threshold=1.01))
    harness = new_session(embedded, picky, tmp_path, providers=2)
    harness.run(TIMEOUT_S)
    assert harness.collector.facts()["candidate"] is None  # no score reaches the threshold
    assert harness.report().state == "expired while pending"
    assert harness.collector.facts()["refund"] == OPTIONS.reward_wei
    for party, moved in zip(harness.parties(), deltas(harness).values(), strict=True):
        assert moved == -fees(party)  # everything escrowed came back; only gas was spent
    assert all(p.facts()["deposit_returned"] == OPTIONS.deposit_wei for p in harness.providers)
    assert harness.market.balance() == 0


@pytest.mark.parametrize(
    ("misbehaviour", "verdict"),
    [
        (Misbehaviour(wrong_k_data=True), "failed AES-GCM authentication"),
        ("features of other data", "the sampled shards do not produce the submitted features"),
    ],
    ids=["wrong_k_data", "wrong_features"],
)
def test_rejects_a_candidate_whose_sample_does_not_back_its_features(
    embedded, assessor, tmp_path, misbehaviour, verdict
):
    if misbehaviour == "features of other data":
        task = load_task(assessor.config, 0)
        other = task.pool_x[::-1].copy(), task.pool_y[::-1].copy()  # not the committed shards
        misbehaviour = Misbehaviour(features_of=other)
    harness = new_session(
        embedded, assessor, tmp_path / "liar", providers=1, misbehaviours={0: misbehaviour}
    )
    harness.run(TIMEOUT_S)
    (provider,) = harness.providers
    assert verdict in verdicts(harness)[provider.address]
    assert verdicts(harness)[provider.address].startswith("rejected: ")
    assert harness.collector.state.intent("set_optimal") is None
    assert harness.report().state == "expired while reviewing"


def test_contract_rejects_wrong_keys_at_review(embedded, assessor, tmp_path):
    harness = new_session(embedded, assessor, tmp_path, providers=1)
    (provider,) = harness.providers
    name = lambda: f"submit_review:{provider.session()}"  # noqa: E731
    harness.run(TIMEOUT_S, until=lambda: provider.intent_status(name()) == "mined")
    intent = provider.state.intent(name())
    before_review = harness.ledger.receipt(intent.tx_hash).block_number - 1
    sid, indices, keys, proofs, sealed = intent.args
    wrong_keys = [bytes(31) + b"\x01", *keys[1:]]
    simulate = harness.ledger.simulate
    assert simulate(provider.account, "submit_review", intent.args, 0, block=before_review) is None
    reason = simulate(
        provider.account,
        "submit_review",
        [sid, indices, wrong_keys, proofs, sealed],
        0,
        block=before_review,
    )
    assert reason == "hyperx: invalid Merkle proof"


def test_detects_a_tampered_feature_file(embedded, assessor, tmp_path):
    harness = new_session(embedded, assessor, tmp_path, providers=2)
    victim = harness.providers[0]
    harness.run(TIMEOUT_S, until=lambda: "features_cid" in victim.facts())
    cid = victim.facts()["features_cid"]
    harness.store.block_path(cid).write_bytes(b"tampered features")
    harness.run(TIMEOUT_S)
    rejected = harness.collector.providers()[victim.address]
    assert rejected["status"] == "rejected"
    assert f"block {cid} is corrupt" in rejected["reason"]
    assert (
        harness.collector.facts()["optimal"] == harness.providers[1].address
    )  # the other one wins
    assert harness.report().state == "closed"


def test_rejects_features_of_another_extractor_and_scores_the_rest(embedded, assessor, tmp_path):
    foreign, _ = pipeline.publish(assessor.m_init, assessor.config.extractor_depth, seed=99)
    cheat = {0: Misbehaviour(foreign_extractor=foreign)}
    harness = new_session(embedded, assessor, tmp_path, providers=2, misbehaviours=cheat)
    harness.run(TIMEOUT_S)
    cheater, honest = harness.providers
    rejected = harness.collector.providers()[cheater.address]
    assert rejected["status"] == "rejected"
    assert "was extracted with extractor" in rejected["reason"]
    assert harness.collector.facts()["optimal"] == honest.address
    assert harness.report().state == "closed"


@pytest.mark.parametrize("sampled", [True, False], ids=["sampled_shard", "unsampled_shard"])
def test_detects_a_tampered_shard(embedded, assessor, tmp_path, sampled):
    harness = new_session(embedded, assessor, tmp_path, providers=1)
    (provider,) = harness.providers
    harness.run(TIMEOUT_S, until=lambda: "indices" in provider.facts())
    facts = provider.facts()
    index = (
        facts["indices"][0]
        if sampled
        else min(set(range(len(facts["keys"]))) - set(facts["indices"]))
    )
    cid = bytes32_to_cid(facts["keys"][index])
    harness.store.block_path(cid).write_bytes(b"tampered shard")
    harness.run(TIMEOUT_S)
    if sampled:  # caught at review: no deal
        assert verdicts(harness)[provider.address].startswith(f"rejected: block {cid} is corrupt")
        assert harness.report().state == "expired while reviewing"
    else:  # the sample was honest, the deal closed; the full download catches the rest
        assert harness.report().state == "closed"
        assert harness.collector.facts()["dataset"].startswith(f"rejected: block {cid} is corrupt")


def test_providers_skip_a_session_whose_offer_is_not_on_the_store(embedded, assessor, tmp_path):
    harness = new_session(embedded, assessor, tmp_path, providers=2)
    stranger = Account.from_key(embedded[2].key)  # the chain's funding account
    now = harness.ledger.timestamp(harness.ledger.head())
    bogus = [OPTIONS.reward_wei, OPTIONS.deposit_wei, 2_500, 8, now + 3_600, 600, 600, b"\x07" * 32]
    harness.ledger.send(stranger, "create_session", bogus, OPTIONS.reward_wei)  # opened first
    harness.run(TIMEOUT_S, until=lambda: all(p.session() is not None for p in harness.providers))
    real = harness.providers[0].session()
    assert harness.market.get_session(real)["collector"] == harness.collector.address
    for provider in harness.providers:
        assert provider.session() == real
        skipped = provider.state.get("provider", f"skipped:{real - 1}")
        assert skipped.startswith("block bafkrei") and "is not in the store" in skipped

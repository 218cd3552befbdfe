"""Bad input: every case reverts with its reason, on the contract and in the spec alike
(`Twin.call` asserts the agreement; each test asserts the reason itself)."""

import pytest
from contract_twin import Twin, shard_keys

from hyperx.impl.chain.market import iter_reward_chunks
from hyperx.spec.config import BPS, MAX_PERIOD_S, MAX_SHARDS
from hyperx.spec.merkle import compute_merkle_proof, compute_merkle_root

REWARD, DEPOSIT, SHARDS = 10**18, 10**17, 10
THETA = b"\x11" * 32


def expect(twin: Twin, reason: str, name: str, sender: str, value: int, *args) -> None:
    assert twin.call(name, sender, value, *args) == (False, reason)


def create_args(twin: Twin, **overrides):
    args = dict(
        cf_reward=REWARD,
        cf_deposit=DEPOSIT,
        cf_pct_bps=2_000,
        cf_shards=SHARDS,
        cf_evaluation_deadline=twin.now() + 600,
        cf_review_s=900,
        cf_claim_s=900,
        adr_theta=THETA,
    )
    args.update(overrides)
    return tuple(args.values())


@pytest.fixture
def twin():
    return Twin()


@pytest.fixture
def session(twin):
    """A session where provider a is registered, sampled at [1, 4] and has features."""
    collector, a = twin.parties[:2]
    ok, sid = twin.call("create_session", collector, REWARD, *create_args(twin))
    keys = shard_keys(a, sid, SHARDS)
    assert twin.call("registration", a, DEPOSIT, sid, compute_merkle_root(keys), SHARDS)[0]
    assert twin.call("sample_data", collector, 0, sid, a, [1, 4])[0]
    assert twin.call("submit_features", a, 0, sid, b"\x33" * 32)[0]
    return sid, keys


def test_rejects_zero_reward(twin):
    expect(
        twin,
        "hyperx: reward is zero",
        "create_session",
        twin.parties[0],
        0,
        *create_args(twin, cf_reward=0),
    )


def test_rejects_wrong_value_for_the_reward(twin):
    expect(
        twin,
        "hyperx: value is not the reward",
        "create_session",
        twin.parties[0],
        REWARD - 1,
        *create_args(twin),
    )


@pytest.mark.parametrize("pct", [0, BPS + 1])
def test_rejects_cf_pct_outside_zero_to_hundred_percent(twin, pct):
    expect(
        twin,
        "hyperx: cf_pct out of range",
        "create_session",
        twin.parties[0],
        REWARD,
        *create_args(twin, cf_pct_bps=pct),
    )


@pytest.mark.parametrize("shards", [0, MAX_SHARDS + 1])
def test_rejects_shard_count_out_of_range(twin, shards):
    expect(
        twin,
        "hyperx: shard count out of range",
        "create_session",
        twin.parties[0],
        REWARD,
        *create_args(twin, cf_shards=shards),
    )


def test_rejects_a_sample_bound_of_zero(twin):
    expect(
        twin,
        "hyperx: sample bound is zero",
        "create_session",
        twin.parties[0],
        REWARD,
        *create_args(twin, cf_shards=9, cf_pct_bps=1_000),
    )


@pytest.mark.parametrize("offset", [-1, 0, MAX_PERIOD_S + 1])
def test_rejects_evaluation_deadline_in_the_past_or_too_far(twin, offset):
    args = create_args(twin, cf_evaluation_deadline=twin.now() + offset)
    expect(
        twin,
        "hyperx: evaluation deadline out of range",
        "create_session",
        twin.parties[0],
        REWARD,
        *args,
    )


@pytest.mark.parametrize("field,reason", [("cf_review_s", "review"), ("cf_claim_s", "claim")])
@pytest.mark.parametrize("period", [0, MAX_PERIOD_S + 1])
def test_rejects_periods_out_of_range(twin, field, reason, period):
    args = create_args(twin, **{field: period})
    expect(
        twin,
        f"hyperx: {reason} period out of range",
        "create_session",
        twin.parties[0],
        REWARD,
        *args,
    )


def test_rejects_an_empty_extractor_address(twin):
    args = create_args(twin, adr_theta=b"\x00" * 32)
    expect(
        twin, "hyperx: extractor address is empty", "create_session", twin.parties[0], REWARD, *args
    )


def test_rejects_an_unknown_session(twin):
    expect(
        twin, "hyperx: unknown session", "registration", twin.parties[1], 0, 7, b"\x01" * 32, SHARDS
    )


def test_rejects_wrong_deposit(twin, session):
    sid, _ = session
    expect(
        twin,
        "hyperx: value is not the deposit",
        "registration",
        twin.parties[2],
        DEPOSIT + 1,
        sid,
        b"\x01" * 32,
        SHARDS,
    )


def test_rejects_duplicate_registration(twin, session):
    sid, _ = session
    expect(
        twin,
        "hyperx: provider already registered",
        "registration",
        twin.parties[1],
        DEPOSIT,
        sid,
        b"\x01" * 32,
        SHARDS,
    )


def test_rejects_wrong_shard_count(twin, session):
    sid, _ = session
    expect(
        twin,
        "hyperx: wrong shard count",
        "registration",
        twin.parties[2],
        DEPOSIT,
        sid,
        b"\x01" * 32,
        SHARDS + 1,
    )


def test_rejects_an_empty_commitment(twin, session):
    sid, _ = session
    expect(
        twin,
        "hyperx: commitment is empty",
        "registration",
        twin.parties[2],
        DEPOSIT,
        sid,
        b"\x00" * 32,
        SHARDS,
    )


def test_rejects_registration_after_the_evaluation_deadline(twin, session):
    sid, _ = session
    twin.advance(600)
    expect(
        twin,
        "hyperx: evaluation has ended",
        "registration",
        twin.parties[2],
        DEPOSIT,
        sid,
        b"\x01" * 32,
        SHARDS,
    )


def test_rejects_sampling_by_anyone_but_the_collector(twin, session):
    sid, _ = session
    expect(
        twin,
        "hyperx: caller is not the collector",
        "sample_data",
        twin.parties[1],
        0,
        sid,
        twin.parties[1],
        [0],
    )


@pytest.mark.parametrize("indices", [[], [0, 1, 2], [3, 2], [2, 2], [SHARDS]])
def test_rejects_bad_samples(twin, session, indices):
    sid, _ = session
    b = twin.parties[2]
    assert twin.call("registration", b, DEPOSIT, sid, b"\x01" * 32, SHARDS)[0]
    # cf_shards * CF_% = 2 shards
    reason = (
        "hyperx: sample size out of bounds"
        if not 0 < len(indices) <= 2
        else "hyperx: sample indices not ascending or out of range"
    )
    expect(twin, reason, "sample_data", twin.parties[0], 0, sid, b, indices)


def test_rejects_a_second_sample(twin, session):
    sid, _ = session
    expect(
        twin,
        "hyperx: provider already sampled",
        "sample_data",
        twin.parties[0],
        0,
        sid,
        twin.parties[1],
        [2],
    )


def test_rejects_features_twice(twin, session):
    sid, _ = session
    expect(
        twin,
        "hyperx: features already submitted",
        "submit_features",
        twin.parties[1],
        0,
        sid,
        b"\x44" * 32,
    )


def test_rejects_a_candidate_without_features(twin, session):
    sid, _ = session
    assert twin.call("registration", twin.parties[2], DEPOSIT, sid, b"\x01" * 32, SHARDS)[0]
    expect(
        twin,
        "hyperx: provider has no features",
        "set_candidate",
        twin.parties[0],
        0,
        sid,
        twin.parties[2],
    )


def _review_args(sid, keys, indices):
    return (
        sid,
        indices,
        [keys[i] for i in indices],
        [compute_merkle_proof(keys, i) for i in indices],
        b"\x07" * 129,
    )


def test_rejects_a_merkle_proof_that_does_not_verify(twin, session):
    sid, keys = session
    twin.call("set_candidate", twin.parties[0], 0, sid, twin.parties[1])
    args = list(_review_args(sid, keys, [1, 4]))
    args[2] = [keys[1], keys[5]]
    expect(twin, "hyperx: invalid Merkle proof", "submit_review", twin.parties[1], 0, *args)
    args = list(_review_args(sid, keys, [1, 4]))
    args[3] = [args[3][0], args[3][0]]
    expect(twin, "hyperx: invalid Merkle proof", "submit_review", twin.parties[1], 0, *args)


def test_rejects_a_review_of_other_indices(twin, session):
    sid, keys = session
    twin.call("set_candidate", twin.parties[0], 0, sid, twin.parties[1])
    expect(
        twin,
        "hyperx: indices do not match the sample",
        "submit_review",
        twin.parties[1],
        0,
        *_review_args(sid, keys, [1, 5]),
    )


def test_rejects_an_empty_sealed_key(twin, session):
    sid, keys = session
    twin.call("set_candidate", twin.parties[0], 0, sid, twin.parties[1])
    args = list(_review_args(sid, keys, [1, 4]))
    args[4] = b""
    expect(
        twin, "hyperx: sealed key length out of range", "submit_review", twin.parties[1], 0, *args
    )


def test_rejects_keys_that_do_not_open_the_commitment(twin, session):
    sid, keys = session
    collector, a = twin.parties[:2]
    twin.call("set_candidate", collector, 0, sid, a)
    twin.call("submit_review", a, 0, *_review_args(sid, keys, [1, 4]))
    twin.call("set_optimal", collector, 0, sid, a)
    ((index, chunk, proof),) = iter_reward_chunks(keys)
    expect(
        twin,
        "hyperx: keys do not match the commitment",
        "claim_reward",
        a,
        0,
        sid,
        index,
        chunk[::-1],
        proof,
    )
    expect(twin, "hyperx: chunk out of order", "claim_reward", a, 0, sid, 1, chunk, proof)
    expect(
        twin,
        "hyperx: caller is not the optimal provider",
        "claim_reward",
        collector,
        0,
        sid,
        index,
        chunk,
        proof,
    )


def test_rejects_claims_while_open_and_refunds_before_expiry(twin, session):
    sid, _ = session
    expect(twin, "hyperx: session is still open", "claim_deposit", twin.parties[1], 0, sid)
    expect(twin, "hyperx: session has not expired", "claim_refund", twin.parties[0], 0, sid)


def test_rejects_the_forfeited_deposit_of_a_silent_candidate(twin, session):
    sid, _ = session
    twin.call("set_candidate", twin.parties[0], 0, sid, twin.parties[1])
    twin.advance(900)
    expect(twin, "hyperx: deposit forfeited", "claim_deposit", twin.parties[1], 0, sid)
    assert twin.call("claim_refund", twin.parties[0], 0, sid) == (True, None)
    expect(twin, "hyperx: refund already claimed", "claim_refund", twin.parties[0], 0, sid)


def test_rejects_value_sent_to_a_nonpayable_interface(twin, session):
    sid, _ = session
    expect(twin, "", "submit_features", twin.parties[1], 1, sid, b"\x55" * 32)

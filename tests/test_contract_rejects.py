"""Bad input: every case reverts with its reason, on the contract and in the spec alike
(`Twin.call` asserts the agreement; each test asserts the reason itself). Every
reason the spec gives is here, and both disputes are refused each way they can be."""

import re
from pathlib import Path

import pytest
from contract_twin import (
    Twin,
    dataset,
    dispute_claim_args,
    dispute_review_args,
    not_a_point,
    review_key,
)

from hyperx.impl.chain.compile import read_source
from hyperx.spec import secp256k1
from hyperx.spec.config import BPS, MAX_PERIOD_S, MAX_SHARDS, MIN_PERIOD_S

REWARD, DEPOSIT, SHARDS = 10**18, 10**17, 10
SAMPLE = [1, 4]  # cf_shards * CF_% = 2 shards
THETA = b"\x11" * 32
REVIEW_S = CLAIM_S = 900
REGISTERED, SAMPLED, CANDIDATE, REVIEWED, PROMOTED, CLAIMED = range(1, 7)


def expect(twin: Twin, reason: str, name: str, sender: str, value: int, *args) -> None:
    assert twin.call(name, sender, value, *args) == (False, reason)


def create_args(twin: Twin, **overrides):
    args = dict(
        cf_reward=REWARD,
        cf_deposit=DEPOSIT,
        cf_pct_bps=2_000,
        cf_shards=SHARDS,
        cf_evaluation_deadline=twin.now() + 600,
        cf_review_s=REVIEW_S,
        cf_claim_s=CLAIM_S,
        adr_theta=THETA,
    )
    args.update(overrides)
    return tuple(args.values())


def session_at(twin: Twin, stage: int) -> int:
    """A session in which provider a is registered (1), sampled at SAMPLE with
    features (2), the candidate (3), has submitted its review (4), is promoted (5),
    and has delivered its master key (6), all honestly."""
    collector, a = twin.parties[:2]
    ok, sid = twin.call("create_session", collector, REWARD, *create_args(twin))
    data = dataset(a, sid, SHARDS)
    steps = [
        ("registration", a, DEPOSIT, (sid, data.root, SHARDS, data.manifest)),
        ("sample_data", collector, 0, (sid, a, SAMPLE)),
        ("submit_features", a, 0, (sid, b"\x33" * 32)),
        ("set_candidate", collector, 0, (sid, a, review_key(sid))),
        ("submit_review", a, 0, lambda: data.review_args(sid, SAMPLE, review_key(sid))),
        ("set_optimal", collector, 0, (sid, a)),
        ("claim_reward", a, 0, lambda: data.claim_args(sid, review_key(sid))),
    ]
    for name, sender, value, args in steps[: stage + 1 if stage >= SAMPLED else stage]:
        assert twin.call(name, sender, value, *(args() if callable(args) else args))[0]
    return sid


@pytest.fixture
def twin():
    return Twin()


@pytest.fixture
def parties(twin):
    return twin.parties[:3]  # collector, a (the candidate), b


# create_session


def test_rejects_zero_reward(twin, parties):
    args = create_args(twin, cf_reward=0)
    expect(twin, "hyperx: reward is zero", "create_session", parties[0], 0, *args)


def test_rejects_wrong_value_for_the_reward(twin, parties):
    args = create_args(twin)
    expect(twin, "hyperx: value is not the reward", "create_session", parties[0], REWARD - 1, *args)


@pytest.mark.parametrize("pct", [0, BPS + 1])
def test_rejects_cf_pct_outside_zero_to_hundred_percent(twin, parties, pct):
    args = create_args(twin, cf_pct_bps=pct)
    expect(twin, "hyperx: cf_pct out of range", "create_session", parties[0], REWARD, *args)


@pytest.mark.parametrize("shards", [0, MAX_SHARDS + 1])
def test_rejects_shard_count_out_of_range(twin, parties, shards):
    args = create_args(twin, cf_shards=shards)
    expect(twin, "hyperx: shard count out of range", "create_session", parties[0], REWARD, *args)


def test_rejects_a_sample_bound_of_zero(twin, parties):
    args = create_args(twin, cf_shards=9, cf_pct_bps=1_000)
    expect(twin, "hyperx: sample bound is zero", "create_session", parties[0], REWARD, *args)


@pytest.mark.parametrize("offset", [-1, 0, MIN_PERIOD_S - 1, MAX_PERIOD_S + 1])
def test_rejects_an_evaluation_shorter_than_a_period_or_too_far(twin, parties, offset):
    args = create_args(twin, cf_evaluation_deadline=twin.now() + offset)
    reason = "hyperx: evaluation deadline out of range"
    expect(twin, reason, "create_session", parties[0], REWARD, *args)


@pytest.mark.parametrize(
    "field,reason",
    [
        ("cf_review_s", "hyperx: review period out of range"),
        ("cf_claim_s", "hyperx: claim period out of range"),
    ],
)
@pytest.mark.parametrize("period", [0, MIN_PERIOD_S - 1, MAX_PERIOD_S + 1])
def test_rejects_periods_out_of_range(twin, parties, field, reason, period):
    args = create_args(twin, **{field: period})
    expect(twin, reason, "create_session", parties[0], REWARD, *args)


def test_accepts_the_shortest_and_longest_periods(twin, parties):
    for period in (MIN_PERIOD_S, MAX_PERIOD_S):
        args = create_args(
            twin,
            cf_evaluation_deadline=twin.now() + period,
            cf_review_s=period,
            cf_claim_s=period,
        )
        assert twin.call("create_session", parties[0], REWARD, *args)[0]


def test_rejects_an_empty_extractor_address(twin, parties):
    args = create_args(twin, adr_theta=b"\x00" * 32)
    expect(twin, "hyperx: extractor address is empty", "create_session", parties[0], REWARD, *args)


# registration


def test_rejects_an_unknown_session(twin, parties):
    sid = session_at(twin, REGISTERED)
    collector, a = parties[:2]
    reason = "hyperx: unknown session"
    expect(twin, reason, "registration", a, 0, sid + 1, b"\x01" * 32, SHARDS, b"\x02" * 32)
    expect(twin, reason, "claim_deposit", a, 0, sid + 1)
    expect(twin, reason, "dispute_review", collector, 0, sid + 1, 1, b"", [], [], 0)


def _register_args(sid, **overrides):
    args = dict(sid=sid, root=b"\x01" * 32, n_shards=SHARDS, manifest=b"\x02" * 32)
    args.update(overrides)
    return tuple(args.values())


def test_rejects_registration_once_a_candidate_is_picked(twin, parties):
    sid = session_at(twin, CANDIDATE)
    reason = "hyperx: session is not pending"
    expect(twin, reason, "registration", parties[2], DEPOSIT, *_register_args(sid))


def test_rejects_registration_after_the_evaluation_deadline(twin, parties):
    sid = session_at(twin, REGISTERED)
    twin.advance(600)
    reason = "hyperx: evaluation has ended"
    expect(twin, reason, "registration", parties[2], DEPOSIT, *_register_args(sid))


def test_rejects_wrong_deposit(twin, parties):
    sid = session_at(twin, REGISTERED)
    reason = "hyperx: value is not the deposit"
    expect(twin, reason, "registration", parties[2], DEPOSIT + 1, *_register_args(sid))


def test_rejects_duplicate_registration(twin, parties):
    sid = session_at(twin, REGISTERED)
    reason = "hyperx: provider already registered"
    expect(twin, reason, "registration", parties[1], DEPOSIT, *_register_args(sid))


@pytest.mark.parametrize(
    "field,value,reason",
    [
        ("n_shards", SHARDS + 1, "hyperx: wrong shard count"),
        ("root", b"\x00" * 32, "hyperx: commitment is empty"),
        ("manifest", b"\x00" * 32, "hyperx: manifest address is empty"),
    ],
)
def test_rejects_a_bad_commitment(twin, parties, field, value, reason):
    sid = session_at(twin, REGISTERED)
    args = _register_args(sid, **{field: value})
    expect(twin, reason, "registration", parties[2], DEPOSIT, *args)


# sample_data


def test_rejects_sampling_by_anyone_but_the_collector(twin, parties):
    sid = session_at(twin, REGISTERED)
    reason = "hyperx: caller is not the collector"
    expect(twin, reason, "sample_data", parties[1], 0, sid, parties[1], [0])


def test_rejects_sampling_once_a_candidate_is_picked_or_after_the_deadline(twin, parties):
    collector, _, b = parties
    sid = session_at(twin, CANDIDATE)
    expect(twin, "hyperx: session is not pending", "sample_data", collector, 0, sid, b, [0])
    sid = session_at(twin, REGISTERED)
    twin.advance(600)
    expect(twin, "hyperx: evaluation has ended", "sample_data", collector, 0, sid, parties[1], [0])


def test_rejects_sampling_an_unknown_provider(twin, parties):
    sid = session_at(twin, REGISTERED)
    reason = "hyperx: unknown provider"
    expect(twin, reason, "sample_data", parties[0], 0, sid, parties[2], [0])


@pytest.mark.parametrize("indices", [[], [0, 1, 2], [3, 2], [2, 2], [SHARDS]])
def test_rejects_bad_samples(twin, parties, indices):
    sid = session_at(twin, REGISTERED)
    reason = (
        "hyperx: sample size out of bounds"
        if not 0 < len(indices) <= 2
        else "hyperx: sample indices not ascending or out of range"
    )
    expect(twin, reason, "sample_data", parties[0], 0, sid, parties[1], indices)


def test_rejects_a_second_sample(twin, parties):
    sid = session_at(twin, SAMPLED)
    reason = "hyperx: provider already sampled"
    expect(twin, reason, "sample_data", parties[0], 0, sid, parties[1], [2])


# submit_features


def test_rejects_features_from_anyone_but_a_sampled_provider(twin, parties):
    collector, a, b = parties
    sid = session_at(twin, REGISTERED)
    expect(twin, "hyperx: caller is not a provider", "submit_features", b, 0, sid, b"\x44" * 32)
    expect(twin, "hyperx: provider not sampled", "submit_features", a, 0, sid, b"\x44" * 32)


def test_rejects_features_out_of_evaluation(twin, parties):
    a = parties[1]
    sid = session_at(twin, CANDIDATE)
    reason = "hyperx: session is not pending"
    expect(twin, reason, "submit_features", a, 0, sid, b"\x44" * 32)
    sid = session_at(twin, SAMPLED)
    twin.advance(600)
    expect(twin, "hyperx: evaluation has ended", "submit_features", a, 0, sid, b"\x44" * 32)


def test_rejects_features_twice_or_empty(twin, parties):
    collector, a, b = parties
    sid = session_at(twin, SAMPLED)
    reason = "hyperx: features already submitted"
    expect(twin, reason, "submit_features", a, 0, sid, b"\x44" * 32)
    assert twin.call("registration", b, DEPOSIT, *_register_args(sid))[0]
    assert twin.call("sample_data", collector, 0, sid, b, [0, 9])[0]
    reason = "hyperx: feature address is empty"
    expect(twin, reason, "submit_features", b, 0, sid, b"\x00" * 32)


# set_candidate


def test_rejects_a_candidate_named_by_anyone_but_the_collector(twin, parties):
    sid = session_at(twin, SAMPLED)
    reason = "hyperx: caller is not the collector"
    expect(twin, reason, "set_candidate", parties[1], 0, sid, parties[1], review_key(sid))


def test_rejects_a_second_candidate_or_a_late_one(twin, parties):
    collector, a = parties[:2]
    sid = session_at(twin, CANDIDATE)
    reason = "hyperx: session is not pending"
    expect(twin, reason, "set_candidate", collector, 0, sid, a, review_key(sid))
    sid = session_at(twin, SAMPLED)
    twin.advance(600 + REVIEW_S)
    expect(twin, "hyperx: session expired", "set_candidate", collector, 0, sid, a, review_key(sid))


def test_rejects_a_candidate_unknown_or_without_features(twin, parties):
    collector, a, b = parties
    sid = session_at(twin, REGISTERED)
    reason = "hyperx: unknown provider"
    expect(twin, reason, "set_candidate", collector, 0, sid, b, review_key(sid))
    reason = "hyperx: provider has no features"
    expect(twin, reason, "set_candidate", collector, 0, sid, a, review_key(sid))


@pytest.mark.parametrize("length", [0, 33, 63])
def test_rejects_a_review_key_that_is_not_64_bytes(twin, parties, length):
    collector, a = parties[:2]
    sid = session_at(twin, SAMPLED)
    reason = "hyperx: review key must be 64 bytes"
    expect(twin, reason, "set_candidate", collector, 0, sid, a, review_key(sid)[:length])


# submit_review


def _review(twin, sid):
    a = twin.parties[1]
    return list(dataset(a, sid, SHARDS).review_args(sid, SAMPLE, review_key(sid)))


def test_rejects_a_review_from_anyone_but_the_candidate(twin, parties):
    sid = session_at(twin, CANDIDATE)
    reason = "hyperx: caller is not the candidate"
    expect(twin, reason, "submit_review", parties[2], 0, *_review(twin, sid))


def test_rejects_a_review_before_a_candidate_twice_or_late(twin, parties):
    a = parties[1]
    sid = session_at(twin, SAMPLED)
    # while pending the candidate is address 0, which no transaction comes from
    expect(twin, "hyperx: caller is not the candidate", "submit_review", a, 0, *_review(twin, sid))
    sid = session_at(twin, PROMOTED)
    expect(twin, "hyperx: session is not reviewing", "submit_review", a, 0, *_review(twin, sid))
    sid = session_at(twin, REVIEWED)
    reason = "hyperx: review already submitted"
    expect(twin, reason, "submit_review", a, 0, *_review(twin, sid))
    sid = session_at(twin, CANDIDATE)
    twin.advance(REVIEW_S)
    expect(twin, "hyperx: session expired", "submit_review", a, 0, *_review(twin, sid))


def test_rejects_a_review_of_other_indices(twin, parties):
    sid = session_at(twin, CANDIDATE)
    data = dataset(parties[1], sid, SHARDS)
    args = data.review_args(sid, [1, 5], review_key(sid))
    reason = "hyperx: indices do not match the sample"
    expect(twin, reason, "submit_review", parties[1], 0, *args)


@pytest.mark.parametrize("field", [2, 3, 4, 6])
def test_rejects_a_review_with_a_missing_item(twin, parties, field):
    sid = session_at(twin, CANDIDATE)
    args = _review(twin, sid)
    args[field] = args[field][:1]
    reason = "hyperx: one leaf, proof and sealed key per index"
    expect(twin, reason, "submit_review", parties[1], 0, *args)


@pytest.mark.parametrize("corruption", ["cid", "key_hash", "swapped proofs", "short proof"])
def test_rejects_a_leaf_that_does_not_open_the_commitment(twin, parties, corruption):
    sid = session_at(twin, CANDIDATE)
    args = _review(twin, sid)
    if corruption == "cid":
        args[2] = [args[2][0], b"\x05" * 32]
    elif corruption == "key_hash":
        args[3] = [b"\x05" * 32, args[3][1]]
    elif corruption == "swapped proofs":
        args[4] = args[4][::-1]
    else:
        args[4] = [args[4][0], args[4][1][:-1]]
    expect(twin, "hyperx: invalid Merkle proof", "submit_review", parties[1], 0, *args)


@pytest.mark.parametrize("length", [0, 33, 63])
def test_rejects_an_ephemeral_key_that_is_not_64_bytes(twin, parties, length):
    sid = session_at(twin, CANDIDATE)
    args = _review(twin, sid)
    args[5] = args[5][:length]
    reason = "hyperx: ephemeral key must be 64 bytes"
    expect(twin, reason, "submit_review", parties[1], 0, *args)


# dispute_review


def _junk_review(twin, sid, junk_position=1):
    """Provider a's review of `sid` with the key at `junk_position` sealed wrong."""
    args = _review(twin, sid)
    args[6] = [bytes(32) if i == junk_position else key for i, key in enumerate(args[6])]
    assert twin.call("submit_review", twin.parties[1], 0, *args)[0]
    return twin.last_events[(sid, "SubmitReview")]


def test_a_junk_review_is_disputed_at_its_junk_position_only(twin, parties):
    collector = parties[0]
    sid = session_at(twin, CANDIDATE)
    review = _junk_review(twin, sid, junk_position=1)
    args = dispute_review_args(sid, review, 0)
    expect(twin, "hyperx: sealed key is valid", "dispute_review", collector, 0, *args)
    args = dispute_review_args(sid, review, 1)
    assert twin.call("dispute_review", collector, 0, *args) == (True, None)
    assert twin.state.sessions[sid].review_rejected
    twin.check_state()


def test_a_review_sealed_with_an_ephemeral_key_off_the_curve_is_disputed(twin, parties):
    collector, a = parties[:2]
    sid = session_at(twin, CANDIDATE)
    args = _review(twin, sid)
    args[5] = not_a_point()
    assert twin.call("submit_review", a, 0, *args)[0]
    args = dispute_review_args(sid, twin.last_events[(sid, "SubmitReview")], 0)
    assert twin.call("dispute_review", collector, 0, *args) == (True, None)


def test_rejects_a_dispute_of_a_good_review_at_every_position(twin, parties):
    collector = parties[0]
    sid = session_at(twin, REVIEWED)
    review = twin.last_events[(sid, "SubmitReview")]
    for position in range(len(SAMPLE)):
        args = dispute_review_args(sid, review, position)
        expect(twin, "hyperx: sealed key is valid", "dispute_review", collector, 0, *args)


def test_rejects_a_dispute_of_a_review_by_anyone_but_the_collector(twin, parties):
    sid = session_at(twin, CANDIDATE)
    args = dispute_review_args(sid, _junk_review(twin, sid), 1)
    reason = "hyperx: caller is not the collector"
    expect(twin, reason, "dispute_review", parties[1], 0, *args)


@pytest.mark.parametrize(
    "stage,reason",
    [
        (SAMPLED, "hyperx: session is not reviewing"),
        (PROMOTED, "hyperx: session is not reviewing"),
        (CANDIDATE, "hyperx: review not submitted"),
    ],
)
def test_rejects_a_dispute_of_a_review_out_of_turn(twin, parties, stage, reason):
    sid = session_at(twin, stage)
    review = {"ephemeral": bytes(64), "sealed_keys": [], "key_hashes": []}
    args = dispute_review_args(sid, review, 0)
    expect(twin, reason, "dispute_review", parties[0], 0, *args)


def test_rejects_a_dispute_of_a_review_after_the_answer_period(twin, parties):
    sid = session_at(twin, CANDIDATE)
    args = dispute_review_args(sid, _junk_review(twin, sid), 1)
    twin.advance(REVIEW_S)
    expect(twin, "hyperx: session expired", "dispute_review", parties[0], 0, *args)


def test_rejects_a_second_dispute_of_a_review(twin, parties):
    sid = session_at(twin, CANDIDATE)
    args = dispute_review_args(sid, _junk_review(twin, sid), 1)
    assert twin.call("dispute_review", parties[0], 0, *args)[0]
    expect(twin, "hyperx: session expired", "dispute_review", parties[0], 0, *args)


@pytest.mark.parametrize("field", ["ephemeral", "sealed_keys", "key_hashes"])
def test_rejects_a_dispute_of_a_review_that_was_not_submitted(twin, parties, field):
    sid = session_at(twin, CANDIDATE)
    review = dict(_junk_review(twin, sid))
    review[field] = review[field][::-1]
    args = dispute_review_args(sid, review, 1)
    expect(twin, "hyperx: not the submitted review", "dispute_review", parties[0], 0, *args)


def test_rejects_a_dispute_of_a_review_position_out_of_range(twin, parties):
    sid = session_at(twin, CANDIDATE)
    args = dispute_review_args(sid, _junk_review(twin, sid), len(SAMPLE))
    expect(twin, "hyperx: position out of range", "dispute_review", parties[0], 0, *args)


@pytest.mark.parametrize("secret", [0, 1, secp256k1.N, "other"])
def test_rejects_a_dispute_of_a_review_with_a_wrong_secret(twin, parties, secret):
    sid = session_at(twin, CANDIDATE)
    args = list(dispute_review_args(sid, _junk_review(twin, sid), 1))
    args[1] = secp256k1.derive_secret(b"not the review key") if secret == "other" else secret
    reason = "hyperx: secret is not the review key's"
    expect(twin, reason, "dispute_review", parties[0], 0, *args)


# set_optimal


def test_rejects_promotion_by_anyone_but_the_collector(twin, parties):
    sid = session_at(twin, REVIEWED)
    reason = "hyperx: caller is not the collector"
    expect(twin, reason, "set_optimal", parties[1], 0, sid, parties[1])


def test_rejects_promotion_out_of_turn_or_late(twin, parties):
    collector, a = parties[:2]
    sid = session_at(twin, SAMPLED)
    expect(twin, "hyperx: session is not reviewing", "set_optimal", collector, 0, sid, a)
    sid = session_at(twin, CANDIDATE)
    expect(twin, "hyperx: review not submitted", "set_optimal", collector, 0, sid, a)
    twin.advance(REVIEW_S)
    expect(twin, "hyperx: session expired", "set_optimal", collector, 0, sid, a)


def test_rejects_promotion_of_a_disputed_review(twin, parties):
    collector, a = parties[:2]
    sid = session_at(twin, CANDIDATE)
    args = dispute_review_args(sid, _junk_review(twin, sid), 1)
    assert twin.call("dispute_review", collector, 0, *args)[0]
    expect(twin, "hyperx: session expired", "set_optimal", collector, 0, sid, a)


def test_rejects_promotion_of_another_provider(twin, parties):
    collector, _, b = parties
    sid = session_at(twin, REVIEWED)
    expect(twin, "hyperx: provider is not the candidate", "set_optimal", collector, 0, sid, b)


# claim_reward


def _claim(twin, sid, master_key=None):
    data = dataset(twin.parties[1], sid, SHARDS)
    return list(data.claim_args(sid, review_key(sid), master_key))


def test_rejects_a_claim_by_anyone_but_the_optimal_provider(twin, parties):
    collector, a = parties[:2]
    sid = session_at(twin, REVIEWED)  # the candidate, not yet promoted
    reason = "hyperx: caller is not the optimal provider"
    expect(twin, reason, "claim_reward", a, 0, *_claim(twin, sid))
    sid = session_at(twin, PROMOTED)
    expect(twin, reason, "claim_reward", collector, 0, *_claim(twin, sid))


def test_rejects_a_second_or_late_claim(twin, parties):
    a = parties[1]
    sid = session_at(twin, CLAIMED)
    expect(twin, "hyperx: session is not reviewed", "claim_reward", a, 0, *_claim(twin, sid))
    sid = session_at(twin, PROMOTED)
    twin.advance(CLAIM_S)
    expect(twin, "hyperx: session expired", "claim_reward", a, 0, *_claim(twin, sid))


def test_rejects_a_claim_whose_ephemeral_key_is_not_64_bytes(twin, parties):
    sid = session_at(twin, PROMOTED)
    args = _claim(twin, sid)
    args[1] = args[1][:63]
    reason = "hyperx: ephemeral key must be 64 bytes"
    expect(twin, reason, "claim_reward", parties[1], 0, *args)


# dispute_claim


def _junk_claim(twin, sid, master_key=bytes(32)):
    assert twin.call("claim_reward", twin.parties[1], 0, *_claim(twin, sid, master_key))[0]
    return twin.last_events[(sid, "ClaimReward")]


def _dispute_claim(twin, sid, claim, index=SHARDS - 1):
    return list(dispute_claim_args(sid, claim, dataset(twin.parties[1], sid, SHARDS), index))


@pytest.mark.parametrize("index", [0, SHARDS - 1])
def test_a_junk_master_key_is_disputed_on_any_shard(twin, parties, index):
    sid = session_at(twin, PROMOTED)
    args = _dispute_claim(twin, sid, _junk_claim(twin, sid), index)
    assert twin.call("dispute_claim", parties[0], 0, *args) == (True, None)
    assert twin.state.sessions[sid].claim_rejected
    twin.check_state()


def test_a_master_key_sealed_with_an_ephemeral_key_off_the_curve_is_disputed(twin, parties):
    sid = session_at(twin, PROMOTED)
    args = _claim(twin, sid)
    args[1] = not_a_point()
    assert twin.call("claim_reward", parties[1], 0, *args)[0]
    args = _dispute_claim(twin, sid, twin.last_events[(sid, "ClaimReward")])
    assert twin.call("dispute_claim", parties[0], 0, *args) == (True, None)


@pytest.mark.parametrize("index", range(SHARDS))
def test_rejects_a_dispute_of_a_good_master_key_on_every_shard(twin, parties, index):
    sid = session_at(twin, CLAIMED)
    args = _dispute_claim(twin, sid, twin.last_events[(sid, "ClaimReward")], index)
    expect(twin, "hyperx: master key is valid", "dispute_claim", parties[0], 0, *args)


def test_rejects_a_dispute_of_a_claim_by_anyone_but_the_collector(twin, parties):
    sid = session_at(twin, PROMOTED)
    args = _dispute_claim(twin, sid, _junk_claim(twin, sid))
    reason = "hyperx: caller is not the collector"
    expect(twin, reason, "dispute_claim", parties[1], 0, *args)


@pytest.mark.parametrize("stage", [REVIEWED, PROMOTED])
def test_rejects_a_dispute_of_a_claim_before_the_claim(twin, parties, stage):
    sid = session_at(twin, stage)
    claim = {"ephemeral": bytes(64), "sealed_master": bytes(32)}
    args = _dispute_claim(twin, sid, claim)
    expect(twin, "hyperx: session is not closed", "dispute_claim", parties[0], 0, *args)


def test_rejects_a_dispute_of_a_claim_after_the_complaint_window(twin, parties):
    sid = session_at(twin, PROMOTED)
    args = _dispute_claim(twin, sid, _junk_claim(twin, sid))
    twin.advance(REVIEW_S)
    expect(twin, "hyperx: session expired", "dispute_claim", parties[0], 0, *args)


def test_rejects_a_second_dispute_of_a_claim(twin, parties):
    sid = session_at(twin, PROMOTED)
    args = _dispute_claim(twin, sid, _junk_claim(twin, sid))
    assert twin.call("dispute_claim", parties[0], 0, *args)[0]
    expect(twin, "hyperx: session expired", "dispute_claim", parties[0], 0, *args)


@pytest.mark.parametrize("field", ["ephemeral", "sealed_master"])
def test_rejects_a_dispute_of_a_key_that_was_not_delivered(twin, parties, field):
    sid = session_at(twin, PROMOTED)
    claim = dict(_junk_claim(twin, sid))
    claim[field] = claim[field][::-1]
    args = _dispute_claim(twin, sid, claim)
    expect(twin, "hyperx: not the delivered key", "dispute_claim", parties[0], 0, *args)


@pytest.mark.parametrize("corruption", ["index", "cid", "key_hash", "proof", "out of range"])
def test_rejects_a_dispute_of_a_claim_with_a_leaf_that_is_not_committed(twin, parties, corruption):
    sid = session_at(twin, PROMOTED)
    args = _dispute_claim(twin, sid, _junk_claim(twin, sid), index=3)
    if corruption == "index":
        args[4] = 2
    elif corruption == "cid":
        args[5] = b"\x05" * 32
    elif corruption == "key_hash":
        args[6] = b"\x05" * 32
    elif corruption == "proof":
        args[7] = args[7][:-1]
    else:  # the padding leaf past the last shard
        args[4:7] = [SHARDS, bytes(32), bytes(32)]
    expect(twin, "hyperx: invalid Merkle proof", "dispute_claim", parties[0], 0, *args)


@pytest.mark.parametrize("secret", [0, "other"])
def test_rejects_a_dispute_of_a_claim_with_a_wrong_secret(twin, parties, secret):
    sid = session_at(twin, PROMOTED)
    args = _dispute_claim(twin, sid, _junk_claim(twin, sid))
    args[1] = secp256k1.derive_secret(b"not the review key") if secret == "other" else secret
    reason = "hyperx: secret is not the review key's"
    expect(twin, reason, "dispute_claim", parties[0], 0, *args)


# claim_deposit and claim_refund


def test_rejects_pulls_while_the_session_is_open(twin, parties):
    collector, a = parties[:2]
    for stage in (REGISTERED, CANDIDATE, REVIEWED, PROMOTED, CLAIMED):
        sid = session_at(twin, stage)
        expect(twin, "hyperx: session is still open", "claim_deposit", a, 0, sid)
        expect(twin, "hyperx: session is still open", "claim_refund", collector, 0, sid)


def test_rejects_pulls_by_the_wrong_party(twin, parties):
    collector, a, b = parties
    sid = session_at(twin, REGISTERED)
    expect(twin, "hyperx: caller is not a provider", "claim_deposit", b, 0, sid)
    expect(twin, "hyperx: caller is not a provider", "claim_deposit", collector, 0, sid)
    expect(twin, "hyperx: caller is not the collector", "claim_refund", a, 0, sid)


@pytest.mark.parametrize("stage", [CANDIDATE, PROMOTED])
def test_rejects_the_forfeited_deposit_of_a_silent_provider(twin, parties, stage):
    collector, a = parties[:2]
    sid = session_at(twin, stage)
    twin.advance(max(REVIEW_S, CLAIM_S))
    expect(twin, "hyperx: deposit forfeited", "claim_deposit", a, 0, sid)
    assert twin.call("claim_refund", collector, 0, sid) == (True, None)
    assert twin.received[collector] == REWARD + DEPOSIT
    expect(twin, "hyperx: refund already claimed", "claim_refund", collector, 0, sid)


def test_rejects_the_deposit_of_a_disputed_provider(twin, parties):
    collector, a = parties[:2]
    sid = session_at(twin, PROMOTED)
    args = _dispute_claim(twin, sid, _junk_claim(twin, sid))
    assert twin.call("dispute_claim", collector, 0, *args)[0]
    expect(twin, "hyperx: deposit forfeited", "claim_deposit", a, 0, sid)


def test_rejects_a_second_deposit_and_the_refund_of_a_deal(twin, parties):
    collector, a = parties[:2]
    sid = session_at(twin, CLAIMED)
    twin.advance(REVIEW_S)
    expect(twin, "hyperx: session is closed", "claim_refund", collector, 0, sid)
    assert twin.call("claim_deposit", a, 0, sid) == (True, None)
    assert twin.received[a] == REWARD + DEPOSIT
    expect(twin, "hyperx: deposit already claimed", "claim_deposit", a, 0, sid)


def test_rejects_value_sent_to_a_nonpayable_interface(twin, parties):
    sid = session_at(twin, SAMPLED)
    expect(twin, "", "submit_features", parties[1], 1, sid, b"\x55" * 32)
    expect(twin, "", "claim_deposit", parties[1], 1, sid)


def test_every_reason_of_the_spec_is_in_the_contract_and_asserted_here():
    """The spec's revert reasons, word for word, in the contract and in this file."""
    spec = Path(__file__).resolve().parents[1] / "spec" / "contract.py"
    reasons = set(re.findall(r'"(hyperx: [^"]+)"', spec.read_text()))
    contract, here = read_source(), Path(__file__).read_text()
    assert len(reasons) >= 50
    assert not [r for r in reasons if f'"{r}"' not in contract]
    assert not [r for r in reasons if f'"{r}"' not in here]

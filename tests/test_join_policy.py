"""The provider's join policy: a session whose terms fall short of the provider's own
is skipped, with the reason in one log line; one that meets them is joined."""

import logging

import numpy as np
import pytest

from hyperx.impl.clients.ledger import Account
from hyperx.impl.clients.policy import JoinPolicy
from hyperx.impl.clients.provider import ProviderClient
from hyperx.impl.clients.session import spec_venue
from hyperx.impl.clients.state import StateStore
from hyperx.impl.datastore import EmbeddedStore
from hyperx.spec.config import MIN_PERIOD_S

REWARD = 10**18
NOW = 1_000_000
TERMS = {
    "cf_reward": REWARD,
    "cf_deposit": REWARD // 100,
    "cf_review_s": 3_600,
    "cf_claim_s": 3_600,
    "cf_evaluation_deadline": NOW + 3_600,
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"cf_review_s": 599}, "cf_review_s 599 s is below the policy's 600 s (--min-review-s)"),
        ({"cf_claim_s": 60}, "cf_claim_s 60 s is below the policy's 600 s (--min-claim-s)"),
        ({"cf_deposit": REWARD // 10 + 1}, "more than 1000 bps of cf_reward"),
        ({"cf_evaluation_deadline": NOW + 119}, "119 s left before its evaluation deadline"),
        ({"cf_evaluation_deadline": NOW - 5}, "0 s left before its evaluation deadline"),
    ],
)
def test_refuses_terms_below_the_policy(change, reason):
    assert reason in JoinPolicy().refusal({**TERMS, **change}, NOW)


def test_accepts_terms_at_the_policy_and_a_stricter_policy_refuses_them():
    at_limit = {**TERMS, "cf_review_s": 600, "cf_claim_s": 600, "cf_deposit": REWARD // 10}
    assert JoinPolicy().refusal(at_limit, NOW) is None
    assert "(--min-reward-wei)" in JoinPolicy(min_reward_wei=2 * REWARD).refusal(TERMS, NOW)


def test_provider_skips_a_session_below_its_policy_with_one_line(tmp_path, caplog):
    venue, funder = spec_venue(), Account.create()
    venue.fund(funder.address, 2 * REWARD)
    ledger = venue.ledger
    now = ledger.timestamp(ledger.head())
    terms = [REWARD, REWARD // 100, 2_500, 8, now + 3_600, MIN_PERIOD_S, 3_600, b"\x01" * 32]
    ledger.send(funder, "create_session", terms, REWARD)
    x, y = np.zeros((20, 8, 8), np.float32), np.zeros(20, np.int32)
    provider = ProviderClient(
        ledger,
        Account.create(),
        StateStore(tmp_path / "provider.sqlite"),
        EmbeddedStore(tmp_path / "store"),
        (x, y),
    )
    with caplog.at_level(logging.WARNING, logger="hyperx.clients"):
        for _ in range(2):
            provider.step()
    assert provider.session() is None
    reason = f"cf_review_s {MIN_PERIOD_S} s is below the policy's 600 s (--min-review-s)"
    assert provider.state.get("provider", "skipped:0") == reason
    skips = [r.getMessage() for r in caplog.records if "skips session" in r.getMessage()]
    assert skips == [f"provider {provider.address[:10]} skips session 0: {reason}"]

"""Re-entrancy: a provider that is a Vyper contract (`reentrant_provider.vy`) whose
default function re-enters the market when paid is paid once, and the re-entered
call is refused by the lock itself."""

import boa
from contract_twin import FUNDS_WEI, dataset, load_market, review_key

REWARD, DEPOSIT, SHARDS = 10**18, 10**17, 8
PERIOD_S = 900


def _open_session(market, collector, shards: int) -> int:
    now = boa.env.evm.patch.timestamp
    return market.create_session(
        REWARD,
        DEPOSIT,
        5_000,
        shards,
        now + 600,
        PERIOD_S,
        PERIOD_S,
        b"\x01" * 32,
        sender=collector,
        value=REWARD,
    )


def test_reentrant_provider_is_paid_once():
    market = load_market()
    attacker = load_market("reentrant_provider.vy", market.address)
    collector = boa.env.generate_address()
    boa.env.set_balance(collector, FUNDS_WEI)
    sid = _open_session(market, collector, SHARDS)
    data = dataset(str(attacker.address).lower(), sid, SHARDS)
    registration = market.registration.prepare_calldata(sid, data.root, SHARDS, data.manifest)
    attacker.act(registration, value=DEPOSIT, sender=collector)
    indices = [1, 3, 5]
    market.sample_data(sid, attacker.address, indices, sender=collector)
    attacker.act(market.submit_features.prepare_calldata(sid, b"\x09" * 32), sender=collector)
    market.set_candidate(sid, attacker.address, review_key(sid), sender=collector)
    review = data.review_args(sid, indices, review_key(sid))
    attacker.act(market.submit_review.prepare_calldata(*review), sender=collector)
    market.set_optimal(sid, attacker.address, sender=collector)
    claim = data.claim_args(sid, review_key(sid))
    attacker.act(market.claim_reward.prepare_calldata(*claim), sender=collector)
    assert boa.env.get_balance(attacker.address) == 0  # paid after the complaint window
    boa.env.time_travel(seconds=PERIOD_S)

    deposit = market.claim_deposit.prepare_calldata(sid)
    attacker.arm(deposit)
    attacker.act(deposit, sender=collector)
    assert attacker.attempts() == 1 and not attacker.reentry_succeeded()
    assert boa.env.get_balance(attacker.address) == REWARD + DEPOSIT
    assert attacker.received_wei() == REWARD + DEPOSIT
    assert boa.env.get_balance(market.address) == 0
    # A second, non-reentrant claim is refused by the contract's own bookkeeping.
    with boa.reverts("hyperx: deposit already claimed"):
        attacker.act(deposit, sender=collector)


def test_reentry_is_refused_by_the_lock():
    """The re-entered call fails before any guard: the lock, not only the ordering."""
    market = load_market()
    attacker = load_market("reentrant_provider.vy", market.address)
    collector = boa.env.generate_address()
    boa.env.set_balance(collector, FUNDS_WEI)
    sid = _open_session(market, collector, 2)
    registration = market.registration.prepare_calldata(sid, b"\x05" * 32, 2, b"\x06" * 32)
    attacker.act(registration, value=DEPOSIT, sender=collector)
    boa.env.time_travel(seconds=600 + PERIOD_S)  # settled while pending: deposits come back
    attacker.arm(market.claim_refund.prepare_calldata(sid))
    attacker.act(market.claim_deposit.prepare_calldata(sid), sender=collector)
    assert attacker.attempts() == 1 and not attacker.reentry_succeeded()
    # claim_refund's first guard would answer "hyperx: caller is not the collector";
    # the lock answers first, without a reason.
    assert attacker.reentry_output() == b""
    assert boa.env.get_balance(attacker.address) == DEPOSIT

"""Re-entrancy: a provider that is a Vyper contract (`reentrant_provider.vy`) whose
default function re-enters claim_reward / claim_deposit when paid is paid once."""

import boa
from contract_twin import FUNDS_WEI, load_market, shard_keys

from hyperx.impl.chain.market import iter_reward_chunks
from hyperx.spec.merkle import compute_merkle_proof, compute_merkle_root

REWARD, DEPOSIT, SHARDS = 10**18, 10**17, 8


def test_reentrant_provider_is_paid_once():
    market = load_market()
    attacker = load_market("reentrant_provider.vy", market.address)
    collector = boa.env.generate_address()
    boa.env.set_balance(collector, FUNDS_WEI)
    pid = str(attacker.address).lower()
    keys = shard_keys(pid, 0, SHARDS)
    now = boa.env.evm.patch.timestamp
    sid = market.create_session(
        REWARD,
        DEPOSIT,
        5_000,
        SHARDS,
        now + 600,
        900,
        900,
        b"\x01" * 32,
        sender=collector,
        value=REWARD,
    )
    attacker.act(
        market.registration.prepare_calldata(sid, compute_merkle_root(keys), SHARDS),
        value=DEPOSIT,
        sender=collector,
    )
    indices = [1, 3, 5]
    market.sample_data(sid, attacker.address, indices, sender=collector)
    attacker.act(market.submit_features.prepare_calldata(sid, b"\x09" * 32), sender=collector)
    market.set_candidate(sid, attacker.address, sender=collector)
    proofs = [compute_merkle_proof(keys, i) for i in indices]
    review = market.submit_review.prepare_calldata(
        sid, indices, [keys[i] for i in indices], proofs, b"\x07" * 129
    )
    attacker.act(review, sender=collector)
    market.set_optimal(sid, attacker.address, sender=collector)
    ((index, chunk, proof),) = iter_reward_chunks(keys)
    claim = market.claim_reward.prepare_calldata(sid, index, chunk, proof)

    attacker.arm(claim)
    attacker.act(claim, sender=collector)
    assert attacker.attempts() == 1 and not attacker.reentry_succeeded()
    assert boa.env.get_balance(attacker.address) == REWARD
    assert attacker.received_wei() == REWARD

    attacker.arm(market.claim_deposit.prepare_calldata(sid))
    attacker.act(market.claim_deposit.prepare_calldata(sid), sender=collector)
    assert attacker.attempts() == 1 and not attacker.reentry_succeeded()
    assert boa.env.get_balance(attacker.address) == REWARD + DEPOSIT
    assert boa.env.get_balance(market.address) == 0
    # A second, non-reentrant claim is refused by the contract's own bookkeeping.
    with boa.reverts("hyperx: deposit already claimed"):
        attacker.act(market.claim_deposit.prepare_calldata(sid), sender=collector)


def test_reentry_is_refused_by_the_lock():
    """The re-entered call fails before any guard: the lock, not only the ordering."""
    market = load_market()
    attacker = load_market("reentrant_provider.vy", market.address)
    collector = boa.env.generate_address()
    boa.env.set_balance(collector, FUNDS_WEI)
    now = boa.env.evm.patch.timestamp
    sid = market.create_session(
        REWARD,
        DEPOSIT,
        5_000,
        2,
        now + 600,
        900,
        900,
        b"\x01" * 32,
        sender=collector,
        value=REWARD,
    )
    attacker.act(
        market.registration.prepare_calldata(sid, b"\x05" * 32, 2), value=DEPOSIT, sender=collector
    )
    boa.env.time_travel(seconds=2_000)  # expired while pending: deposits come back
    attacker.arm(market.claim_refund.prepare_calldata(sid))
    attacker.act(market.claim_deposit.prepare_calldata(sid), sender=collector)
    assert attacker.attempts() == 1 and not attacker.reentry_succeeded()
    # claim_refund's first guard would answer "hyperx: caller is not the collector";
    # the lock answers first, without a reason.
    assert attacker.reentry_output() == b""
    assert boa.env.get_balance(attacker.address) == DEPOSIT

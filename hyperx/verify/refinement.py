"""The refinement suite: real ⊑ ideal, as a Hypothesis RuleBasedStateMachine.

The machine is the environment of paper 6.1.4. Its rules are the instructions of
`hyperx.spec.schedule` (start a session, join with a dataset of some quality,
mine a block with chosen transactions in a chosen order, advance time, drop a
transaction, reorganise, corrupt a party, make a corrupted party call any
interface); each is recorded as plain data, so a failing schedule is a JSON trace
that `replay` runs again. The real world runs Prot_COL, Prot_PRI and Prot_SC
(possibly a mutated Prot_SC) over F_BC and F_DS; the simulator replays it into
F_HyperX.

After every step `check_chain` replays the canonical chain with its own
bookkeeping (it trusts neither the contract module's state nor its get_escrow),
and checks INVARIANTS. At the end both worlds run to completion and every honest
party must observe the same thing in both: its final balance, the session
outcomes, and which plaintext shards of which provider the collector (or, when
the collector is corrupted, the adversary) can read; for an honest collector the
real set must equal the ideal leak on honest providers and contain it on the
others (it paid, so it reads), for an honest provider the adversary's set must
not exceed the ideal leak.
"""

import copy
import io
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from hyperx.spec import secp256k1
from hyperx.spec.chain import CONTRACT_ADDRESS, Call, Transaction
from hyperx.spec.config import (
    BPS,
    MASTER_KEY_SLOT,
    MAX_PERIOD_S,
    MAX_SAMPLE,
    MAX_SHARDS,
    MIN_PERIOD_S,
    ZERO_HASH,
)
from hyperx.spec.contract import Msg
from hyperx.spec.ideal import ABORTED_AFTER_REVIEW, DEAL_CLOSED
from hyperx.spec.merkle import keccak256
from hyperx.spec.parties import CLOSED
from hyperx.spec.schedule import (
    ANY_PROVIDER,
    CORRUPTION_POINTS,
    DEAL_EVENTS,
    FINALITY_DEPTH,
    INTERFACE_NAMES,
    MAX_DISRUPTIONS,
    MAX_GAP_S,
    OUTSIDER,
    PERIOD_S,
    STORE_WHICH,
    VARIANTS,
    World,
    build_adversary_call,
    check_trace,
)

N_PROVIDERS = 3
PARTY_NAMES = ["C"] + [f"P{i}" for i in range(N_PROVIDERS)]
# Deviations at the steps that decide a session's outcome: the collector aborting
# after (or before) the review, a candidate or an optimal provider going silent
BYZANTINE_PLANS = [("C", "SubmitReview"), ("C", "SetCandidate"), ("C", "SetOptimal")] + [
    (f"P{i}", at) for i in range(N_PROVIDERS) for at in ("SetCandidate", "SetOptimal")
]
# ... and a provider handed over with its features in flight (the adversary inherits them)
BYZANTINE_PLANS.append((ANY_PROVIDER, "SubmitFeatures"))
# Deviations that need one planned move at the right moment (random calls rarely
# hit them): junk keys in a review or a claim, disputes of good deliveries, features
# of other data, a withholding registration
JUNK_DELIVERY_PLANS = [
    (ANY_PROVIDER, "SetCandidate", "submit_review", "wrong", 0),  # a sealed key not committed
    (ANY_PROVIDER, "SetOptimal", "claim_reward", "wrong", 0),
]
DEVIATION_PLANS = (
    JUNK_DELIVERY_PLANS
    + [(ANY_PROVIDER, "SampleData", "submit_features", "other", 0)]
    + [(f"P{i}", "now", "registration", "withhold", 0) for i in range(N_PROVIDERS)]
    + [
        ("C", "SubmitReview", "dispute_review", "honest", 0),
        ("C", "ClaimReward", "dispute_claim", "honest", 0),
        ("C", "ClaimReward", "dispute_claim", "wrong", 1),  # leaf 0 shown past the last shard
    ]
)
# Two deviations that only together reach a state: a candidate's junk review that a
# corrupted collector promotes all the same (a dispute must then be refused: the
# review stood when it was promoted)
COLLUSION_PLANS = [
    (
        (ANY_PROVIDER, "SetCandidate", "submit_review", "wrong", 0),
        ("C", "SubmitReview", "set_optimal", "other", 0),
    )
]
# A provider that commits one shard wrongly and otherwise follows the protocol
# (target: which shard, and how: `hyperx.spec.schedule._miscommit`)
MISCOMMIT_PLANS = [("miscommit", i, target) for i in range(N_PROVIDERS) for target in range(4)]
MAX_SESSIONS = 2
MAX_CORRUPTED = 2
# cf_review_s, cf_claim_s: the default, or longer (so a party that reads one for the
# other, or misses a deadline's move, acts at the wrong time)
PERIODS = st.sampled_from([(PERIOD_S, PERIOD_S), (PERIOD_S, 420), (420, PERIOD_S)])

INVARIANTS = (
    "conservation: the sum of all balances never changes",
    "solvency: the contract holds exactly what its sessions still owe, by the policy, "
    "and that equals the sum of the contract module's get_escrow",
    "monotone st_trade: pending -> reviewing -> reviewed -> closed, each step once, "
    "and the contract's st_trade agrees",
    "access: every successful call came from the role allowed to make it, before its deadline",
    "sample bound: at most cf_shards * CF_% distinct shards, set once per provider",
    "single payout: cf_reward paid at most once, only to P_opt, only after its master key "
    "stood through the complaint window",
    "deposit once: each deposit (with any compensation or reward) claimed at most once, "
    "never by the forfeiter, for the amount the policy gives",
    "refund once: the collector's refund paid at most once, after settlement without a "
    "deal, for the policy's amount",
    "disputes: a dispute succeeds exactly when the sealed key it names does not open to "
    "its committed hash, checked here with the review key's secret",
    "policy agreement: a call succeeds exactly when the policy, restated here "
    "independently of the spec's modules, allows it (no guard missing, none too strict)",
    "role sweep: in every state reached, every party's call of every interface against "
    "every target (a dry run) succeeds exactly when the policy allows it",
    "honest moves land: an honest party's answer (set_candidate, submit_review, a dispute, "
    "set_optimal, claim_reward) or pull (claim_deposit, claim_refund) never reverts: it is "
    "sent only when the party's view of the chain says it is due",
    "no stuck funds: after the last deadline and every honest party's reactions, the "
    "contract owes honest parties nothing",
    "prompt: once its final view shows a move due (claim_deposit or claim_refund of a "
    "settled session, submit_review of a named candidate, claim_reward of P_opt), an honest "
    "party has it pending or in a block by the end of the step",
    "thrifty: an honest party never broadcasts a call that, by what it could know then (the "
    "final blocks and the head's time), can no longer succeed: its window closed, its role "
    "not the sender's, its pull already taken; nor a pull before its final view shows "
    "the session settled",
    "reads right: every honest party's view of every session is what its final events say "
    "(the environment's own reading)",
)
# An honest party's moves that must never revert. Registration, sample_data and
# submit_features may: a provider can join moments before the evaluation ends.
TIMELY_MOVES = frozenset(
    {
        "set_candidate",
        "submit_review",
        "dispute_review",
        "set_optimal",
        "claim_reward",
        "dispute_claim",
        "claim_deposit",
        "claim_refund",
    }
)


class InvariantViolation(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantViolation(message)


# The policy's primitives, restated (not imported from hyperx.spec.merkle or
# hyperx.spec.sealing, so that a mutant there cannot change the checker too)


def _word(value) -> bytes:
    return value.rjust(32, b"\x00") if isinstance(value, bytes) else value.to_bytes(32, "big")


def leaf_opens(cid: bytes, key_hash: bytes, index: int, proof, root: bytes, n: int) -> bool:
    """Does (cid, key_hash) sit at leaf `index` of the tree of `n` leaves with `root`?"""
    depth = (n - 1).bit_length() if n > 1 else 0
    if not (0 <= index < n and len(proof) == depth):
        return False
    node, position = keccak256(cid + key_hash), index
    for sibling in proof:
        node = keccak256(sibling + node) if position & 1 else keccak256(node + sibling)
        position >>= 1
    return node == root


def sample_digest(indices) -> bytes:
    return keccak256(_word(32) + _word(len(indices)) + b"".join(_word(i) for i in indices))


def _abi_bytes(data: bytes) -> bytes:
    return _word(len(data)) + data + b"\x00" * (-len(data) % 32)


def _abi_words(items) -> bytes:
    return _word(len(items)) + b"".join(_word(item) for item in items)


def review_digest(ephemeral: bytes, sealed, hashes) -> bytes:
    tails = [_abi_bytes(ephemeral), _abi_words(sealed), _abi_words(hashes)]
    heads = [96, 96 + len(tails[0]), 96 + len(tails[0]) + len(tails[1])]
    return keccak256(b"".join(map(_word, heads)) + b"".join(tails))


def claim_digest(ephemeral: bytes, sealed_master: bytes) -> bytes:
    return keccak256(_word(64) + sealed_master + _abi_bytes(ephemeral))


def unseal(secret: int, ephemeral: bytes, sealed: bytes, sid: int, slot: int) -> bytes | None:
    """The key a seal holds for `secret` (None when the ephemeral key is no point)."""
    if len(ephemeral) != 64 or len(sealed) != 32:
        return None
    x = int.from_bytes(ephemeral[:32], "big")
    shared = secp256k1.ecrecover(0, 27 + (ephemeral[63] & 1), x, secret * x % secp256k1.N)
    if shared == b"\x00" * 20:
        return None
    pad = keccak256(_word(shared) + _word(sid) + _word(slot))
    return bytes(a ^ b for a, b in zip(sealed, pad, strict=True))


def owns_review_key(secret: int, review_key: bytes) -> bool:
    g = secp256k1.GX
    return secp256k1.ecrecover(0, 27, g, secret * g % secp256k1.N) == review_key


@dataclass
class SessionLedger:
    """One session, rebuilt from canonical receipts, with no help from the contract."""

    collector: str
    config: dict
    phase: int = 0  # 0 pending, 1 reviewing, 2 reviewed, 3 closed (master key in)
    deadline: int = 0
    candidate: str | None = None
    optimal: str | None = None
    review_key: bytes | None = None  # the address of the review key
    reviewed: bool = False
    review: tuple | None = None  # (ephemeral, sealed keys, key hashes) as delivered
    claim: tuple | None = None  # (ephemeral, sealed master) as delivered
    review_rejected: bool = False
    claim_rejected: bool = False
    registered: dict = field(default_factory=dict)  # pid -> root
    sampled: dict = field(default_factory=dict)
    featured: set = field(default_factory=set)
    deposits_claimed: set = field(default_factory=set)
    refunded: bool = False
    paid_in: int = 0
    paid_out: int = 0

    def is_settled(self, now: int) -> bool:
        return now >= self.deadline

    def is_deal(self) -> bool:
        return self.phase == 3 and not self.claim_rejected

    def is_compensated(self) -> bool:
        return self.phase == 1 and self.reviewed and not self.review_rejected

    def compensation(self) -> int:
        return self.config["cf_reward"] * self.config["cf_pct_bps"] // BPS

    def forfeiter(self, now: int):
        if not self.is_settled(now) or self.phase == 0:
            return None
        if self.phase == 1:
            return None if self.is_compensated() else self.candidate
        return None if self.is_deal() else self.optimal

    def deposit_due(self, pid: str) -> int:
        due = self.config["cf_deposit"]
        if pid == self.candidate and self.is_compensated():
            due += self.compensation()
        if pid == self.optimal and self.is_deal():
            due += self.config["cf_reward"]
        return due

    def refund_due(self, now: int) -> int:
        refund = self.config["cf_reward"] - (self.compensation() if self.is_compensated() else 0)
        return refund + (self.config["cf_deposit"] if self.forfeiter(now) else 0)

    def owed(self, now: int) -> dict[str, int]:
        """What the session still owes, to whom, at time `now`."""
        if not self.is_settled(now):
            owed = {pid: self.config["cf_deposit"] for pid in self.registered}
            owed[self.collector] = owed.get(self.collector, 0) + self.config["cf_reward"]
            return owed
        owed = {
            pid: self.deposit_due(pid)
            for pid in self.registered
            if pid not in self.deposits_claimed and pid != self.forfeiter(now)
        }
        if not self.is_deal() and not self.refunded:
            owed[self.collector] = owed.get(self.collector, 0) + self.refund_due(now)
        return owed


def check_chain(world: World) -> dict[int, SessionLedger]:
    """Replay the canonical chain and check the per-step invariants."""
    chain = world.chain
    ledgers: dict[int, SessionLedger] = {}
    for block in chain.blocks[1:]:
        for receipt in block.receipts:
            refusal = get_refusal(ledgers, receipt.tx, block.timestamp)
            if not receipt.success:
                check(not receipt.transfers, f"reverted tx {receipt.tx.tx_id} moved money")
                # (a party corrupted since is the adversary's, and so is what it left pending)
                check(
                    receipt.tx.tx_id not in world.honest_sent
                    or not world.is_honest_tx(receipt.tx)
                    or receipt.tx.call.name not in TIMELY_MOVES,
                    f"honest {world.name_of.get(receipt.tx.sender)}'s {receipt.tx.call.name} "
                    f"(tx {receipt.tx.tx_id}) reverted at {block.timestamp}: {receipt.reason}",
                )
                check(
                    refusal is not None or receipt.reason == "insufficient balance",
                    f"tx {receipt.tx.tx_id} {receipt.tx.call.name} at {block.timestamp} reverted "
                    f"({receipt.reason}) though the policy allows it",
                )
                continue
            check(
                refusal is None,
                f"tx {receipt.tx.tx_id} {receipt.tx.call.name} at "
                f"{block.timestamp} succeeded though the policy refuses it: {refusal}",
            )
            _check_receipt(ledgers, receipt, block.timestamp)
    total = sum(world.initial.values())
    check(sum(chain.balances.values()) == total, "conservation: money created or destroyed")
    now = chain.now
    owed = sum(sum(ledger.owed(now).values()) for ledger in ledgers.values())
    held = chain.balance(CONTRACT_ADDRESS)
    check(
        held == sum(lg.paid_in - lg.paid_out for lg in ledgers.values()),
        "solvency: contract balance differs from its sessions' net flows",
    )
    check(held == owed, f"solvency: contract holds {held}, the policy says it owes {owed}")
    sessions = chain.contract.sessions
    check(len(sessions) == len(ledgers), "contract session count differs from CreateSession events")
    escrow = sum(world.contract_module.get_escrow(s) for s in sessions)
    check(escrow == held, f"solvency: sum of get_escrow {escrow} != contract balance {held}")
    for sid, ledger in ledgers.items():
        check(
            int(sessions[sid].st_trade) == ledger.phase,
            f"session {sid}: contract st_trade {int(sessions[sid].st_trade)}, events say {ledger.phase}",
        )
    return ledgers


def _is_word(value) -> bool:
    return isinstance(value, bytes) and len(value) == 32 and value != ZERO_HASH


def get_refusal(ledgers: dict, tx, now: int) -> str | None:
    """Why Prot_SC's policy (the module docstring of hyperx.spec.contract, restated
    here from the paper and issue 9) refuses this call in this state, or None if it
    allows it. Every receipt must agree: no mutant may refuse what the policy allows."""
    name, args, sender = tx.call.name, tx.call.args, tx.sender
    if name not in ("registration", "create_session") and tx.value:
        return "value sent to a non-payable interface"
    if name == "create_session":
        reward, _, pct, shards, evaluation, review, claim, adr = args
        return _first_refusal(
            (reward > 0 and tx.value == reward, "reward not escrowed"),
            (0 < pct <= BPS and 0 < shards <= MAX_SHARDS and shards * pct >= BPS, "bad sample"),
            (
                now + MIN_PERIOD_S <= evaluation <= now + MAX_PERIOD_S,
                "evaluation deadline out of range",
            ),
            (
                MIN_PERIOD_S <= review <= MAX_PERIOD_S and MIN_PERIOD_S <= claim <= MAX_PERIOD_S,
                "period out of range",
            ),
            (_is_word(adr), "no offer"),
        )
    if args[0] not in ledgers:
        return "unknown session"
    ledger = ledgers[args[0]]
    return _REFUSALS[name](ledger, tx, now, sender == ledger.collector)


def _refuse_registration(ledger, tx, now, is_collector):
    _, root, n, manifest = tx.call.args
    return _first_refusal(
        (_is_evaluation_open(ledger, now), "evaluation over"),
        (tx.value == ledger.config["cf_deposit"], "value is not the deposit"),
        (tx.sender not in ledger.registered, "registered twice"),
        (n == ledger.config["cf_shards"] and _is_word(root), "bad commitment"),
        (_is_word(manifest), "no manifest"),
    )


def _refuse_sample_data(ledger, tx, now, is_collector):
    _, pid, indices = tx.call.args
    config = ledger.config
    bound = min(MAX_SAMPLE, config["cf_shards"] * config["cf_pct_bps"] // BPS)
    return _first_refusal(
        (
            is_collector and _is_evaluation_open(ledger, now),
            "not the collector, or evaluation over",
        ),
        (pid in ledger.registered and pid not in ledger.sampled, "unregistered or sampled"),
        (0 < len(indices) <= bound, "sample size out of bounds"),
        (
            list(indices) == sorted(set(indices))
            and all(0 <= i < config["cf_shards"] for i in indices),
            "bad indices",
        ),
    )


def _refuse_submit_features(ledger, tx, now, is_collector):
    return _first_refusal(
        (
            _is_evaluation_open(ledger, now) and tx.sender in ledger.sampled,
            "evaluation over, or not sampled",
        ),
        (tx.sender not in ledger.featured, "features twice"),
        (_is_word(tx.call.args[1]), "no feature address"),
    )


def _refuse_set_candidate(ledger, tx, now, is_collector):
    _, pid, key = tx.call.args
    return _first_refusal(
        (is_collector and ledger.phase == 0 and now < ledger.deadline, "not pending"),
        (pid in ledger.featured, "candidate without features"),
        (len(key) == 64, "review key is not a point's size"),
    )


def _refuse_submit_review(ledger, tx, now, is_collector):
    _, indices, cids, hashes, proofs, ephemeral, sealed = tx.call.args
    root, n = ledger.registered.get(tx.sender), ledger.config["cf_shards"]
    return _first_refusal(
        (tx.sender == ledger.candidate and ledger.phase == 1, "not the reviewing candidate"),
        (not ledger.reviewed and now < ledger.deadline, "reviewed, or expired"),
        (list(indices) == ledger.sampled.get(tx.sender), "not the sample"),
        (len(cids) == len(hashes) == len(proofs) == len(sealed) == len(indices), "lengths"),
        (
            all(
                map(leaf_opens, cids, hashes, indices, proofs, [root] * len(cids), [n] * len(cids))
            ),
            "leaves do not open the root",
        ),
        (len(ephemeral) == 64, "ephemeral key is not a point's size"),
    )


def _refuse_dispute_review(ledger, tx, now, is_collector):
    sid, secret, ephemeral, sealed, hashes, position = tx.call.args
    refusal = _first_refusal(
        (is_collector and ledger.phase == 1 and ledger.reviewed, "no review to dispute"),
        (now < ledger.deadline, "expired"),
        (
            ledger.review is not None
            and review_digest(ephemeral, sealed, hashes) == review_digest(*ledger.review),
            "not the delivered review",
        ),
        (0 <= position < len(sealed), "position out of range"),
    )
    if refusal is not None:
        return refusal
    if not owns_review_key(secret, ledger.review_key):
        return "not the review key's secret"
    key = unseal(secret, ephemeral, sealed[position], sid, position)
    return None if key is None or keccak256(key) != hashes[position] else "the sealed key is good"


def _refuse_set_optimal(ledger, tx, now, is_collector):
    return _first_refusal(
        (is_collector and ledger.phase == 1 and ledger.reviewed, "no review to promote"),
        (now < ledger.deadline and tx.call.args[1] == ledger.candidate, "expired, or not P_tc"),
    )


def _refuse_claim_reward(ledger, tx, now, is_collector):
    _, ephemeral, _ = tx.call.args
    return _first_refusal(
        (tx.sender == ledger.optimal and ledger.phase == 2, "not the optimal provider"),
        (now < ledger.deadline, "expired"),
        (len(ephemeral) == 64, "ephemeral key is not a point's size"),
    )


def _refuse_dispute_claim(ledger, tx, now, is_collector):
    sid, secret, ephemeral, sealed, index, cid, key_hash, proof = tx.call.args
    root, n = ledger.registered.get(ledger.optimal), ledger.config["cf_shards"]
    refusal = _first_refusal(
        (is_collector and ledger.phase == 3, "no delivered key to dispute"),
        (now < ledger.deadline, "complaint window over"),
        (ledger.claim == (ephemeral, sealed), "not the delivered key"),
        (root is not None and leaf_opens(cid, key_hash, index, proof, root, n), "bad leaf"),
    )
    if refusal is not None:
        return refusal
    if not owns_review_key(secret, ledger.review_key):
        return "not the review key's secret"
    master = unseal(secret, ephemeral, sealed, sid, MASTER_KEY_SLOT)
    if master is None or keccak256(keccak256(master + _word(index))) != key_hash:
        return None
    return "the master key is good"


def _refuse_claim_deposit(ledger, tx, now, is_collector):
    return _first_refusal(
        (
            tx.sender in ledger.registered and tx.sender not in ledger.deposits_claimed,
            "unregistered, or claimed",
        ),
        (ledger.is_settled(now), "session still open"),
        (tx.sender != ledger.forfeiter(now), "forfeited"),
    )


def _refuse_claim_refund(ledger, tx, now, is_collector):
    return _first_refusal(
        (is_collector and ledger.is_settled(now), "not the collector, or not settled"),
        (not ledger.is_deal() and not ledger.refunded, "a deal, or refunded"),
    )


def _is_evaluation_open(ledger, now: int) -> bool:
    return ledger.phase == 0 and now < ledger.config["cf_evaluation_deadline"]


_REFUSALS = {
    "registration": _refuse_registration,
    "sample_data": _refuse_sample_data,
    "submit_features": _refuse_submit_features,
    "set_candidate": _refuse_set_candidate,
    "submit_review": _refuse_submit_review,
    "dispute_review": _refuse_dispute_review,
    "set_optimal": _refuse_set_optimal,
    "claim_reward": _refuse_claim_reward,
    "dispute_claim": _refuse_dispute_claim,
    "claim_deposit": _refuse_claim_deposit,
    "claim_refund": _refuse_claim_refund,
}


def _first_refusal(*conditions: tuple[bool, str]) -> str | None:
    return next((reason for holds, reason in conditions if not holds), None)


def _check_receipt(ledgers: dict, receipt, now: int) -> None:
    """The successful call's event and transfers, against the ledger; then the
    ledger moves on (its rules, not the contract's state)."""
    tx = receipt.tx
    names = [e.name for e in receipt.events]
    check(len(names) == 1, f"tx {tx.tx_id} ({tx.call.name}) emitted {names}, not one event")
    event = receipt.events[0]
    args, sender, name = event.args, tx.sender, event.name
    transfers = list(receipt.transfers)
    check(name == tx.call.name.title().replace("_", ""), f"tx {tx.tx_id} emitted {name}")
    if name == "CreateSession":
        config = {k: v for k, v in args.items() if k not in ("sid", "collector")}
        check(args["sid"] == len(ledgers) and args["collector"] == sender, "CreateSession args")
        check(tx.value == config["cf_reward"], "create_session: reward not escrowed in full")
        check(not transfers, "create_session paid out")
        ledger = SessionLedger(sender, config)
        ledger.deadline = config["cf_evaluation_deadline"] + config["cf_review_s"]
        ledger.paid_in = tx.value
        ledgers[args["sid"]] = ledger
        return
    sid = args["sid"]
    check(sid == tx.call.args[0] and sid in ledgers, f"{name} for session {sid}")
    ledger = ledgers[sid]
    config = ledger.config
    ledger.paid_in += tx.value
    ledger.paid_out += sum(amount for _, amount in transfers)
    check(ledger.paid_out <= ledger.paid_in, f"session {sid}: paid out more than it took in")
    if name in ("ClaimDeposit", "ClaimRefund"):
        due = ledger.deposit_due(sender) if name == "ClaimDeposit" else ledger.refund_due(now)
        check(transfers == [(sender, due)], f"session {sid}: {name} paid {transfers}, due {due}")
        check(args["amount"] == due, f"session {sid}: {name} event says {args['amount']}")
        if name == "ClaimDeposit":
            ledger.deposits_claimed.add(sender)
        else:
            ledger.refunded = True
        return
    check(not transfers, f"session {sid}: {name} moved money: {transfers}")
    _MOVES[name](ledger, tx, args, now)


def _move_registration(ledger, tx, args, now):
    check(args["pid"] == tx.sender, "registration names another provider")
    ledger.registered[tx.sender] = args["adr_data_root"]


def _move_sample_data(ledger, tx, args, now):
    check(args["pid"] == tx.call.args[1], "SampleData names another provider")
    check(list(args["indices"]) == list(tx.call.args[2]), "SampleData indices")
    ledger.sampled[args["pid"]] = list(args["indices"])


def _move_submit_features(ledger, tx, args, now):
    ledger.featured.add(tx.sender)


def _move_set_candidate(ledger, tx, args, now):
    check(args["pid"] == tx.call.args[1], "SetCandidate names another provider")
    ledger.phase, ledger.candidate = 1, args["pid"]
    ledger.review_key = secp256k1.address_of_encoding(tx.call.args[2])
    ledger.deadline = now + ledger.config["cf_review_s"]


def _move_submit_review(ledger, tx, args, now):
    _, _, _, hashes, _, ephemeral, sealed = tx.call.args
    ledger.reviewed, ledger.review = True, (ephemeral, list(sealed), list(hashes))
    ledger.deadline = now + ledger.config["cf_review_s"]


def _move_dispute_review(ledger, tx, args, now):
    ledger.review_rejected, ledger.deadline = True, now


def _move_set_optimal(ledger, tx, args, now):
    check(args["pid"] == tx.call.args[1], "SetOptimal names another provider")
    ledger.phase, ledger.optimal = 2, args["pid"]
    ledger.deadline = now + ledger.config["cf_claim_s"]


def _move_claim_reward(ledger, tx, args, now):
    ledger.phase, ledger.claim = 3, (tx.call.args[1], tx.call.args[2])
    ledger.deadline = now + ledger.config["cf_review_s"]


def _move_dispute_claim(ledger, tx, args, now):
    ledger.claim_rejected, ledger.deadline = True, now


_MOVES = {
    "Registration": _move_registration,
    "SampleData": _move_sample_data,
    "SubmitFeatures": _move_submit_features,
    "SetCandidate": _move_set_candidate,
    "SubmitReview": _move_submit_review,
    "DisputeReview": _move_dispute_review,
    "SetOptimal": _move_set_optimal,
    "ClaimReward": _move_claim_reward,
    "DisputeClaim": _move_dispute_claim,
}


def get_doom(ledgers: dict, tx, earliest: int, final_time: int) -> str | None:
    """Why its sender should not have broadcast this call, given the final ledgers it
    could read: it can succeed in no block at or after `earliest` (a window that only
    closes, a role, a pull taken), or it is a pull of a session its final view does
    not show settled yet (at `final_time`); None if neither."""
    name, args, sender = tx.call.name, tx.call.args, tx.sender
    if name == "create_session" or not args or args[0] not in ledgers:
        return None
    ledger = ledgers[args[0]]
    if name in ("claim_deposit", "claim_refund") and not ledger.is_settled(final_time):
        return f"{name} for session {args[0]}, not settled in the final view at {final_time}"
    is_collector = sender == ledger.collector
    evaluation_open = _is_evaluation_open(ledger, earliest)
    in_time = earliest < ledger.deadline
    doomed = {
        "registration": not evaluation_open,
        "sample_data": not (is_collector and evaluation_open),
        "submit_features": not evaluation_open,
        "set_candidate": not (is_collector and ledger.phase == 0 and in_time),
        "submit_review": not (
            sender == ledger.candidate and ledger.phase == 1 and not ledger.reviewed and in_time
        ),
        "set_optimal": not (is_collector and ledger.phase == 1 and ledger.reviewed and in_time),
        "dispute_review": not (is_collector and ledger.phase == 1 and ledger.reviewed and in_time),
        "claim_reward": not (sender == ledger.optimal and ledger.phase == 2 and in_time),
        "dispute_claim": not (is_collector and ledger.phase == 3 and in_time),
        "claim_deposit": sender not in ledger.registered or sender in ledger.deposits_claimed,
        "claim_refund": not is_collector or ledger.is_deal() or ledger.refunded,
    }[name]
    return f"{name} for session {args[0]} cannot succeed after {earliest}" if doomed else None


def get_due_moves(world: World, ledgers: dict, final_time: int) -> list[tuple[str, str, int]]:
    """(party, interface, sid) of every move an honest party's final view makes due:
    its pulls once a session is settled, and a named party's answer while it can still
    be mined in time."""
    due = []
    can_land = lambda ledger: world.chain.now + 1 < ledger.deadline  # noqa: E731
    for sid, ledger in ledgers.items():
        settled = ledger.is_settled(final_time)
        for pid in ledger.registered:
            if (
                settled
                and pid not in ledger.deposits_claimed
                and pid != ledger.forfeiter(final_time)
            ):
                due.append((pid, "claim_deposit", sid))
        if settled and not ledger.is_deal() and not ledger.refunded:
            due.append((ledger.collector, "claim_refund", sid))
        if not settled and ledger.phase == 1 and not ledger.reviewed and can_land(ledger):
            due.append((ledger.candidate, "submit_review", sid))
        if not settled and ledger.phase == 2 and can_land(ledger):
            due.append((ledger.optimal, "claim_reward", sid))
    honest = {address for name, address in world.address.items() if world.is_honest(name)}
    return [move for move in due if move[0] in honest]


class PartyWatch:
    """Thrifty and prompt honest parties (INVARIANTS), judged after every reaction of
    the world (`World.observers`), when a one-block delay still shows: each honest
    broadcast as it is first seen, against what its sender could know (the final
    blocks, the head's time); every move the final view makes due, in flight. The
    final blocks never change, so their ledgers are replayed once, incrementally."""

    def __init__(self, world: World):
        self.ledgers: dict[int, SessionLedger] = {}
        self.replayed = 0  # the last final block replayed into `ledgers`
        self.judged: set[int] = set()  # honest broadcasts already judged
        world.observers.append(self)

    def __call__(self, world: World) -> None:
        chain = world.chain
        for block in chain.blocks[self.replayed + 1 : chain.final_height + 1]:
            for receipt in block.receipts:
                if receipt.success:
                    _check_receipt(self.ledgers, receipt, block.timestamp)
        self.replayed = chain.final_height
        final_time = chain.blocks[chain.final_height].timestamp
        for name, party in world.parties.items():
            if party.corrupted:
                continue
            misread = [
                sid
                for sid in party.sessions.keys() | world.views().keys()
                if vars(party.sessions.get(sid, object())) != vars(world.views().get(sid, object()))
            ]
            check(
                not misread,
                f"honest {name} reads session {misread[:1]} otherwise than its final events say",
            )
        for tx_id in sorted(world.honest_sent - self.judged):
            self.judged.add(tx_id)
            tx = world.seen[tx_id]
            doom = get_doom(self.ledgers, tx, chain.now + 1, final_time)
            check(
                doom is None,
                f"honest {world.name_of.get(tx.sender)} broadcast {tx.call.name} (tx {tx_id}) "
                f"at head time {chain.now} in vain: {doom}",
            )
        due = get_due_moves(world, self.ledgers, final_time)
        if not due:
            return
        in_flight = {(tx.sender, tx.call.name, tx.call.args[:1]) for tx in chain.mempool}
        in_flight.update(
            (r.tx.sender, r.tx.call.name, r.tx.call.args[:1])
            for block in chain.blocks[chain.final_height + 1 :]
            for r in block.receipts
            if r.success
        )
        for party, name, sid in due:
            check(
                (party, name, (sid,)) in in_flight,
                f"honest {world.name_of[party]} has not sent its {name} for session {sid}, "
                f"due since its final view (final time {final_time}, head time {chain.now})",
            )


def check_no_stuck_funds(world: World, ledgers: dict[int, SessionLedger]) -> None:
    now = world.chain.now
    for sid, ledger in ledgers.items():
        check(ledger.is_settled(now), f"session {sid} still open at the end")
        for party, amount in ledger.owed(now).items():
            name = world.name_of.get(party)
            check(
                name is None or not world.is_honest(name) or amount == 0,
                f"session {sid}: {amount} wei stuck, owed to honest {name}",
            )


def compare_worlds(world: World) -> None:
    """The end of a schedule: both worlds complete, honest observables agree."""
    real, ideal = world.observables()
    check(
        real.balances == ideal.balances,
        f"honest balances differ: real {real.balances}, ideal {ideal.balances}",
    )
    check(
        real.outcomes == ideal.outcomes,
        f"outcomes differ: real {real.outcomes}, ideal {ideal.outcomes}",
    )
    honest = {n for n in world.names[1:] if world.is_honest(n)}
    on = lambda reads, names: {r for r in reads if r[1] in names}  # noqa: E731
    if world.is_honest("C"):
        check(
            on(real.collector_reads, honest) == on(ideal.collector_reads, honest),
            f"collector reads {sorted(on(real.collector_reads, honest))}, "
            f"ideal leak {sorted(on(ideal.collector_reads, honest))}",
        )
        check(
            ideal.collector_reads <= real.collector_reads,
            f"collector paid but cannot read {sorted(ideal.collector_reads - real.collector_reads)}",
        )
        check(
            on(real.collector_holds, honest) == on(real.collector_reads, honest),
            f"collector keeps {sorted(on(real.collector_holds, honest))} of the honest shards "
            f"it can read, {sorted(on(real.collector_reads, honest))}",
        )
        check_collector_keeps(world, real)
    extra = on(real.adversary_reads, honest) - ideal.adversary_reads
    check(not extra, f"the adversary reads honest shards beyond the ideal leak: {sorted(extra)}")


def check_collector_keeps(world: World, real) -> None:
    """An honest collector keeps what it paid for (the reward, or the compensation for a
    review), whoever the provider: every shard of it that it can read. And it reports a
    dataset delivered by a master key as verified exactly when it holds all of it."""
    for sid, (outcome, candidate, optimal) in real.outcomes.items():
        # the reward buys the dataset; the compensation, the sample
        paid = {DEAL_CLOSED: optimal, ABORTED_AFTER_REVIEW: candidate}.get(outcome)
        sample = world.views()[sid].samples.get(world.address.get(paid), [])
        reads = {
            r
            for r in real.collector_reads
            if r[:2] == (sid, paid) and (outcome == DEAL_CLOSED or r[2] in sample)
        }
        check(
            reads <= real.collector_holds,
            f"session {sid}: the collector paid {paid} ({outcome}) and does not keep "
            f"{sorted(reads - real.collector_holds)}, which it can read",
        )
    for (sid, pid), acquired in world.collector.acquired.items():
        view = world.views()[sid]
        if view.phase == CLOSED and view.optimal == pid:
            whole = len(acquired.plaintexts) == view.config["cf_shards"]
            check(
                acquired.verified == whole,
                f"session {sid}: the collector reports verified={acquired.verified} "
                f"for a dataset it holds {len(acquired.plaintexts)} shards of",
            )


def run_to_completion(world: World) -> None:
    world.finish()
    ledgers = check_chain(world)
    check_no_stuck_funds(world, ledgers)
    compare_worlds(world)


# The role sweep

TARGETED_INTERFACES = (
    "sample_data",
    "set_candidate",
    "set_optimal",
    "dispute_review",
    "dispute_claim",
)


def get_sweep_signature(world: World, ledgers: dict[int, SessionLedger]) -> tuple:
    """The abstract state a sweep covers: each session's phase and flags, and whether
    it is settled. A sweep runs once per signature per schedule."""
    now = world.chain.now + 1
    sessions = tuple(
        (sid, lg.phase, lg.reviewed, lg.review_rejected, lg.claim_rejected, lg.is_settled(now))
        for sid, lg in sorted(ledgers.items())
    )
    return sessions


def _sweep_calls(world: World, party, sid: int):
    """Every (value, interface, args) a corrupted party could send to session `sid`
    now, against every target, "honest" and "wrong"; the calls whose honest form
    has side effects (a registration stores shards, features are stored) are sent
    with junk arguments of the right shape instead."""
    calls = {}
    view = party.sessions.get(sid)
    deposit = view.config["cf_deposit"] if view is not None else 0
    junk = keccak256(b"sweep" + sid.to_bytes(8, "big", signed=True))
    for variant in ("honest", "wrong"):
        calls[("registration", variant)] = (
            deposit + (variant == "wrong"),
            "registration",
            (sid, junk, view.config["cf_shards"] if view else 4, junk),
        )
        calls[("submit_features", variant)] = (
            0,
            "submit_features",
            (sid, junk if variant == "honest" else ZERO_HASH),
        )
        for interface in INTERFACE_NAMES:
            if interface in ("create_session", "registration", "submit_features"):
                continue
            # the target names a provider (or a position, a shard) only for these
            targeted = interface in TARGETED_INTERFACES
            for target in range(N_PROVIDERS if targeted else 1):
                instruction = {
                    "op": "call",
                    "party": world.name_of[party.address],
                    "interface": interface,
                    "sid": sid,
                    "variant": variant,
                    "target": target,
                }
                built = build_adversary_call(world, party, instruction)
                if built is not None:
                    calls[(interface, variant, target)] = built
    unique = {}
    for value, interface, args in calls.values():
        unique.setdefault(repr((value, interface, args)), (value, interface, args))
    return unique.values()


def sweep_roles(world: World, ledgers: dict[int, SessionLedger]) -> int:
    """Every party tries every interface against every target on a copy of the
    contract's state, as if in the next block: each call must succeed exactly when
    the restated policy allows it. A dry run, so honest parties take part too (their
    calls are what the adversary could send had it corrupted them now); nothing
    reaches the chain. Returns the number of calls checked."""
    interfaces = world.chain.interfaces
    snapshot = world.chain.contract
    state = copy.deepcopy(snapshot)
    now = world.chain.now + 1
    checked = 0
    for name in sorted(world.parties):
        party = world.parties[name]
        for sid in [*ledgers, len(ledgers)]:
            for value, interface, args in _sweep_calls(world, party, sid):
                tx = Transaction(-1, party.address, value, Call(interface, tuple(args)))
                refusal = get_refusal(ledgers, tx, now)
                try:
                    interfaces[interface](state, Msg(party.address, value, now), *args)
                    succeeded = True
                except AssertionError as revert:
                    succeeded, reason = False, str(revert)
                if succeeded:
                    state = copy.deepcopy(snapshot)
                if succeeded != (refusal is None):
                    raise InvariantViolation(
                        f"role sweep: {name} {interface}{_short(args)} at {now} "
                        + (
                            f"succeeded though the policy refuses it: {refusal}"
                            if succeeded
                            else f"reverted ({reason}) though the policy allows it"
                        )
                    )
                checked += 1
    return checked


def check_step(world: World, swept: set) -> int:
    """Every check after one instruction: the chain's invariants, and a role sweep
    if this abstract state was not swept yet. Returns the sweep's call count."""
    ledgers = check_chain(world)
    signature = get_sweep_signature(world, ledgers)
    if signature in swept:
        return 0
    swept.add(signature)
    return sweep_roles(world, ledgers)


def _short(args) -> str:
    text = repr(args)
    return text if len(text) <= 120 else text[:117] + "..."


# The environment


@dataclass
class _Stats:
    schedules: int = 0
    steps: int = 0
    sweep_calls: int = 0
    last_trace: list | None = None
    outcomes: Counter = field(default_factory=Counter)


quality = st.integers(0, 9)


class RefinementMachine(RuleBasedStateMachine):
    """Subclassed per run with `contract_module` (Prot_SC, maybe mutated) and `stats`."""

    contract_module = None
    parties_module = None
    min_steps = 0
    stats: _Stats = _Stats()

    parties = Bundle("parties")
    sessions = Bundle("sessions")
    txs = Bundle("txs")

    def __init__(self):
        super().__init__()
        self.world = World(self.contract_module, N_PROVIDERS, self.parties_module)
        self.known_txs: set[int] = set()
        self.steps = 0  # environment instructions run
        self.swept: set = set()  # states (as get_sweep_signature) already swept
        PartyWatch(self.world)
        self.stats.last_trace = self.world.trace

    def _step(self, instruction: dict):
        self.steps += 1
        self.world.apply(instruction)
        new = self.world.new_tx_ids(self.known_txs)
        self.known_txs.update(new)
        return multiple(*new)

    @initialize(target=parties)
    def name_parties(self):
        return multiple(*self.world.names)

    @initialize(
        target=sessions,
        reward=st.sampled_from([1_000, 10_000]),
        pct_bps=st.sampled_from([1_000, 2_500, 5_000]),
        shards=st.sampled_from([2, 4, 8, 16]),
        evaluation_s=st.sampled_from([400, 600, 900]),
        threshold=st.sampled_from([0, 300, 600]),
        periods=PERIODS,
        qualities=st.lists(quality, min_size=N_PROVIDERS, max_size=N_PROVIDERS),
        byzantine=st.one_of(
            st.none(),
            st.sampled_from(BYZANTINE_PLANS),
            st.tuples(st.sampled_from(PARTY_NAMES), st.sampled_from(CORRUPTION_POINTS)),
            st.sampled_from(DEVIATION_PLANS),
            # the deliveries once more: only a session that gets that far meets them
            st.sampled_from(JUNK_DELIVERY_PLANS),
            st.sampled_from(COLLUSION_PLANS),
            st.sampled_from(MISCOMMIT_PLANS),
        ),
        twin=st.booleans(),
    )
    def first_session(
        self, reward, pct_bps, shards, evaluation_s, threshold, periods, qualities, byzantine, twin
    ):
        """Most schedules need a session with providers, and often a Byzantine
        party: start one (with `twin`, a second at once, both creations in flight),
        let the providers join once its creation is final, and maybe hand one party
        to the adversary (now, or at a step of the protocol)."""
        self._start(reward, pct_bps, shards, evaluation_s, threshold, periods)
        if twin:
            self._start(reward, 2_500, 4, evaluation_s, threshold, (PERIOD_S, PERIOD_S))
        self._step({"op": "advance", "seconds": 3})
        miscommits = {}
        if byzantine is not None and byzantine[0] == "miscommit":
            miscommits, byzantine = {byzantine[1]: byzantine[2]}, None
        for i, q in enumerate(qualities):
            if i in miscommits:
                miscommit = {"provider": i, "sid": 0, "quality": q, "target": miscommits[i]}
                self._step({"op": "miscommit", **miscommit})
            else:
                self._step({"op": "join", "provider": i, "sid": 0, "quality": q})
        plans = (
            byzantine if byzantine is not None and isinstance(byzantine[0], tuple) else [byzantine]
        )
        for plan in plans if byzantine is not None else ():
            if len(plan) == 5:
                fields = ("party", "at", "interface", "variant", "target")
                self._step({"op": "deviate", **dict(zip(fields, plan, strict=True))})
            else:
                self._step({"op": "corrupt", "party": plan[0], "at": plan[1]})
        return multiple(*range(1 + twin))

    def _start(self, reward, pct_bps, shards, evaluation_s, threshold, periods) -> int:
        sid = self.world.sessions_started
        self._step(
            {
                "op": "start_session",
                "reward": reward,
                "deposit": reward // 10,
                "pct_bps": max(pct_bps, -(-BPS // shards)),
                "shards": shards,
                "evaluation_s": evaluation_s,
                "threshold": threshold,
                "review_s": periods[0],
                "claim_s": periods[1],
            }
        )
        return sid

    @precondition(
        lambda self: self.world.sessions_started < MAX_SESSIONS and self.world.is_honest("C")
    )
    @rule(
        target=sessions,
        reward=st.sampled_from([1_000, 5_000]),
        shards=st.sampled_from([4, 8]),
        evaluation_s=st.sampled_from([400, 600]),
        threshold=st.sampled_from([0, 500]),
        periods=PERIODS,
    )
    def start_session(self, reward, shards, evaluation_s, threshold, periods):
        return self._start(reward, 2_500, shards, evaluation_s, threshold, periods)

    @precondition(
        lambda self: sum(not self.world.is_honest(n) for n in self.world.names) < MAX_CORRUPTED
    )
    @rule(
        target=txs,
        provider=st.integers(0, N_PROVIDERS - 1),
        sid=sessions,
        quality=quality,
        target_shard=st.integers(0, 7),
    )
    def miscommit(self, provider, sid, quality, target_shard):
        """A provider joins with one shard miscommitted and otherwise plays by the rules."""
        miscommit = {"provider": provider, "sid": sid, "quality": quality, "target": target_shard}
        return self._step({"op": "miscommit", **miscommit})

    @rule(
        target=txs,
        provider=st.integers(0, N_PROVIDERS - 1),
        # the collector's sessions, or any other (X's: a provider must stay out of it)
        sid=st.one_of(sessions, sessions, st.integers(0, MAX_SESSIONS + 1)),
        quality=quality,
    )
    def join(self, provider, sid, quality):
        return self._step({"op": "join", "provider": provider, "sid": sid, "quality": quality})

    @precondition(lambda self: self._evaluation_edge() is not None)
    @rule(
        target=txs,
        provider=st.integers(0, N_PROVIDERS - 1),
        quality=quality,
        before=st.integers(1, 4),
    )
    def join_at_the_edge(self, provider, quality, before):
        """A join as late as it gets: time up to about 30 s before a session's
        evaluation deadline, blocks up to `before` seconds before it, then the join (a
        registration that can no longer land must not be sent, one that can must)."""
        sid, deadline = self._evaluation_edge()
        if deadline - self.world.chain.now > 40:
            self._step({"op": "advance", "seconds": deadline - self.world.chain.now - 30})
        while self.world.chain.now < deadline - before:
            gap = min(MAX_GAP_S, deadline - before - self.world.chain.now)
            self._step({"op": "mine", "gap": gap, "include": []})
        return self._step({"op": "join", "provider": provider, "sid": sid, "quality": quality})

    def _evaluation_edge(self) -> tuple[int, int] | None:
        """The session of the collector whose evaluation deadline is next, if ahead."""
        now = self.world.chain.now
        edges = [
            (view.config["cf_evaluation_deadline"], sid)
            for sid, view in self.world.views().items()
            if view.config["cf_evaluation_deadline"] - now > 5 and sid in self.world.collector.tasks
        ]
        return None if not edges else min(edges)[::-1]

    @precondition(lambda self: self._foreign_sessions())
    @rule(target=txs, data=st.data(), provider=st.integers(0, N_PROVIDERS - 1), quality=quality)
    def foreign_session(self, data, provider, quality):
        """A session the collector does not run (X's): X registers in it (the collector
        must leave it alone), and an honest provider is asked to join it (its policy
        must keep it out)."""
        sid = data.draw(st.sampled_from(self._foreign_sessions()), label="sid")
        known = set(self.world.seen)
        self._step(
            {
                "op": "call",
                "party": OUTSIDER,
                "interface": "registration",
                "sid": sid,
                "variant": "honest",
                "target": 0,
            }
        )
        mine = [tx.tx_id for tx in self.world.chain.mempool if tx.tx_id not in known]
        self._step({"op": "mine", "gap": 1, "include": mine})
        return self._step({"op": "join", "provider": provider, "sid": sid, "quality": quality})

    def _foreign_sessions(self) -> list[int]:
        views = self.world.views()
        return [sid for sid in sorted(views) if views[sid].collector != self.world.address["C"]]

    @rule(target=txs, gap=st.integers(1, MAX_GAP_S), include=st.lists(txs, max_size=4))
    def mine(self, gap, include):
        return self._step({"op": "mine", "gap": gap, "include": include})

    @rule(target=txs, gap=st.integers(1, MAX_GAP_S))
    def mine_without(self, gap):
        """A block that holds only what liveness forces in: everything else waits."""
        return self._step({"op": "mine", "gap": gap, "include": []})

    @rule(target=txs, seconds=st.sampled_from([5, 30, 100, 300, 600]))
    def advance(self, seconds):
        return self._step({"op": "advance", "seconds": seconds})

    @precondition(lambda self: self._gap_to_wakeup() is not None)
    @rule(target=txs, include=st.lists(txs, max_size=3))
    def mine_at_deadline(self, include):
        """A block stamped exactly at the next deadline: the boundary the guards use."""
        return self._step({"op": "mine", "gap": self._gap_to_wakeup(), "include": include})

    def _gap_to_wakeup(self) -> int | None:
        now = self.world.chain.now
        gaps = [w - now for w in self.world.wakeups() if 0 < w - now <= MAX_GAP_S]
        return min(gaps, default=None)

    @precondition(lambda self: self.world.disruptions < MAX_DISRUPTIONS)
    @rule(target=txs, tx=txs)
    def drop(self, tx):
        return self._step({"op": "drop", "tx": tx})

    @precondition(
        lambda self: (
            self.world.disruptions < MAX_DISRUPTIONS
            and self.world.chain.height > self.world.chain.final_height
        )
    )
    @rule(target=txs, depth=st.integers(1, FINALITY_DEPTH), requeue=st.booleans())
    def reorg(self, depth, requeue):
        return self._step({"op": "reorg", "depth": depth, "requeue": requeue})

    @precondition(
        lambda self: sum(not self.world.is_honest(n) for n in self.world.names) < MAX_CORRUPTED
    )
    @rule(target=txs, party=parties, at=st.sampled_from(CORRUPTION_POINTS))
    def corrupt(self, party, at):
        return self._step({"op": "corrupt", "party": party, "at": at})

    @rule(
        target=txs,
        data=st.data(),
        sid=st.one_of(sessions, sessions, sessions, st.integers(-1, MAX_SESSIONS + 1)),
        interface=st.sampled_from(INTERFACE_NAMES),
        variant=st.sampled_from(VARIANTS),
        target_provider=st.integers(0, 15),  # a provider, modulo their number
    )
    def adversary_call(self, data, sid, interface, variant, target_provider):
        corrupted = sorted(n for n, p in self.world.parties.items() if p.corrupted)
        party = data.draw(st.sampled_from(corrupted), label="party")
        return self._step(
            {
                "op": "call",
                "party": party,
                "interface": interface,
                "sid": sid,
                "variant": variant,
                "target": target_provider,
            }
        )

    def _corrupted(self) -> list[str]:
        return sorted(n for n, p in self.world.parties.items() if p.corrupted)

    @rule(target=txs, tx=txs, data=st.data())
    def copy(self, tx, data):
        """A corrupted party replays (or impersonates) any transaction ever sent."""
        sender = data.draw(st.sampled_from(self._corrupted()), label="as")
        return self._step({"op": "copy", "tx": tx, "as": sender})

    @precondition(lambda self: bool(self.world.chain.mempool))
    @rule(target=txs, position=st.integers(0, 7), data=st.data())
    def copy_pending(self, position, data):
        """A corrupted party front-runs a pending transaction with its own copy."""
        mempool = self.world.chain.mempool
        sender = data.draw(st.sampled_from(self._corrupted()), label="as")
        tx = mempool[position % len(mempool)].tx_id
        return self._step({"op": "copy", "tx": tx, "as": sender})

    @rule(target=txs, gap=st.integers(1, MAX_GAP_S))
    def mine_adversary_first(self, gap):
        """A block ordered by the adversary: its own transactions first."""
        world = self.world
        first = [tx.tx_id for tx in world.chain.mempool if not world.is_honest_tx(tx)]
        return self._step({"op": "mine", "gap": gap, "include": first})

    @rule(target=txs, variant=st.sampled_from(VARIANTS), which=st.integers(0, 15))
    def outsider_creates_session(self, variant, which):
        """X opens a session at an edge of the rules of creation, or across one,
        and has it mined at once, a second later (so the edges are hit exactly)."""
        known = set(self.world.seen)
        self._step(
            {
                "op": "call",
                "party": OUTSIDER,
                "interface": "create_session",
                "sid": 0,
                "variant": variant,
                "target": which,
            }
        )
        mine = [tx.tx_id for tx in self.world.chain.mempool if tx.tx_id not in known]
        return self._step({"op": "mine", "gap": 1, "include": mine})

    @precondition(lambda self: self.world.disruptions < MAX_DISRUPTIONS)
    # later phases weighted up: an earlier aimed reorg would otherwise use the budget
    @rule(
        target=txs,
        event=st.sampled_from(
            DEAL_EVENTS + ("ClaimReward",) * 3 + ("DisputeReview", "DisputeClaim")
        ),
        requeue=st.booleans(),
    )
    def reorg_latest(self, event, requeue):
        """A reorganisation aimed at the latest deal-phase call (paper Figure 4); armed
        until such a call is mined, if none is in a block that is not yet final."""
        return self._step({"op": "reorg_latest", "event": event, "requeue": requeue})

    @rule(target=txs, data=st.data(), sid=sessions, which=st.sampled_from(STORE_WHICH))
    def store(self, data, sid, which):
        """A corrupted provider publishes shards it had withheld."""
        party = data.draw(st.sampled_from(self._corrupted()), label="party")
        return self._step({"op": "store", "party": party, "sid": sid, "which": which})

    @invariant()
    def chain_invariants(self):
        self.stats.sweep_calls += check_step(self.world, self.swept)

    def teardown(self):
        run_to_completion(self.world)
        # Count the schedules Hypothesis ran in full (it cuts a few short internally)
        if self.steps >= self.min_steps:
            self.stats.schedules += 1
            self.stats.steps += self.steps
        for outcome, *_ in self.world.observables()[0].outcomes.values():
            self.stats.outcomes[outcome] += 1
        self.stats.outcomes["with corruption"] += not all(
            map(self.world.is_honest, self.world.names)
        )


# The public API


@dataclass
class RefinementReport:
    schedules: int
    steps: int
    failures: int
    failing_trace: dict | None
    seconds: float
    message: str | None = None  # the failure, and Hypothesis' shrunk steps
    outcomes: dict = field(default_factory=dict)  # how the sessions ended, for coverage
    sweep_calls: int = 0  # calls the role sweep checked
    seed: int | None = None  # the run's seed: the same seed runs the same schedules


def run_refinement(
    contract_module=None,
    *,
    parties_module=None,
    schedules: int,
    min_steps: int = 20,
    seed: int | None = None,
    shrink: bool = True,
) -> RefinementReport:
    """Run `schedules` random schedules of at least `min_steps` steps each (the
    initial session and joins count) against Prot_SC, or against `contract_module`
    (a mutated copy of hyperx.spec.contract with the same API), the parties of
    `parties_module` (likewise, of hyperx.spec.parties). The first failure
    ends the run; with `shrink` (default) Hypothesis first shrinks it, and the
    report's failing_trace is the shrunk schedule. `seed` makes the run replay; without
    one, a fresh seed is drawn and reported, so any run can be repeated exactly."""
    if seed is None:
        seed = random.SystemRandom().getrandbits(32)
    stats = _Stats()
    machine = type(
        "RefinementMachine",
        (RefinementMachine,),
        {
            "contract_module": contract_module,
            "parties_module": parties_module,
            "stats": stats,
            "min_steps": min_steps,
        },
    )
    config = settings(
        max_examples=schedules,
        stateful_step_count=min_steps + 10,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        **({} if shrink else {"phases": [Phase.explicit, Phase.generate]}),
    )
    start = time.perf_counter()
    output = io.StringIO()
    failing, message = None, None
    previous_seed = hypothesis.core.global_force_seed
    try:
        hypothesis.core.global_force_seed = seed
        with with_reporter(lambda text: output.write(f"{text}\n")):
            run_state_machine_as_test(machine, settings=config, _min_steps=min_steps)
    except Exception as error:  # noqa: BLE001 - any failure of a schedule is reported
        failing = {"version": 1, "providers": N_PROVIDERS, "steps": list(stats.last_trace or [])}
        message = f"{type(error).__name__}: {error}\n{output.getvalue()}"
    finally:
        hypothesis.core.global_force_seed = previous_seed
    return RefinementReport(
        schedules=stats.schedules,
        steps=stats.steps,
        failures=0 if failing is None else 1,
        failing_trace=failing,
        seconds=time.perf_counter() - start,
        message=message,
        outcomes=dict(stats.outcomes),
        sweep_calls=stats.sweep_calls,
        seed=seed,
    )


def replay(trace: dict, contract_module=None, parties_module=None) -> RefinementReport:
    """Run one saved schedule again, with every check of the suite."""
    check_trace(trace)
    start = time.perf_counter()
    world = World(contract_module, trace["providers"], parties_module)
    message = None
    swept: set = set()
    PartyWatch(world)
    try:
        for step in trace["steps"]:
            world.apply(step)
            check_step(world, swept)
        run_to_completion(world)
    except AssertionError as error:
        message = f"{type(error).__name__}: {error}"
    return RefinementReport(
        schedules=1,
        steps=len(trace["steps"]),
        failures=0 if message is None else 1,
        failing_trace=None if message is None else trace,
        seconds=time.perf_counter() - start,
        message=message,
    )


def load_trace(path) -> dict:
    """Read and check a JSON trace; ValueError with a one-line reason otherwise."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ValueError(f"cannot read trace {path}: {error.strerror}") from None
    try:
        trace = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"trace {path} is not JSON: {error.msg} at line {error.lineno}") from None
    return check_trace(trace)

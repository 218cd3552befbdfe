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

import io
import json
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

from hyperx.spec.chain import CONTRACT_ADDRESS
from hyperx.spec.config import (
    BPS,
    MAX_PERIOD_S,
    MAX_SAMPLE,
    MAX_SEALED_KEY_BYTES,
    MAX_SHARDS,
    ZERO_HASH,
)
from hyperx.spec.merkle import (
    compute_merkle_root,
    get_chunk_count,
    is_valid_chunk,
    is_valid_merkle_proof,
)
from hyperx.spec.schedule import (
    CORRUPTION_POINTS,
    FINALITY_DEPTH,
    INTERFACE_NAMES,
    MAX_DISRUPTIONS,
    MAX_GAP_S,
    OUTSIDER,
    VARIANTS,
    World,
    check_trace,
)

N_PROVIDERS = 3
PARTY_NAMES = ["C"] + [f"P{i}" for i in range(N_PROVIDERS)]
# Deviations at the steps that decide a session's outcome: the collector aborting
# after (or before) the review, a candidate or an optimal provider going silent
BYZANTINE_PLANS = [("C", "SubmitReview"), ("C", "SetCandidate"), ("C", "SetOptimal")] + [
    (f"P{i}", at) for i in range(N_PROVIDERS) for at in ("SetCandidate", "SetOptimal")
]
MAX_SESSIONS = 2
MAX_CORRUPTED = 2

INVARIANTS = (
    "conservation: the sum of all balances never changes",
    "solvency: the contract holds exactly what its sessions still owe, by the policy, "
    "and that equals the sum of the contract module's get_escrow",
    "monotone st_trade: pending -> reviewing -> reviewed -> closed, each step once, "
    "and the contract's st_trade agrees",
    "access: every successful call came from the role allowed to make it, before its deadline",
    "sample bound: at most cf_shards * CF_% distinct shards, set once per provider",
    "single payout: cf_reward paid at most once, only to P_opt, in the transaction "
    "whose keys complete the commitment",
    "deposit once: each deposit (with any compensation) claimed at most once, never by "
    "the forfeiter, for the amount the policy gives",
    "refund once: the collector's refund paid at most once, after expiry, for the policy's amount",
    "policy agreement: a call succeeds exactly when the policy, restated here "
    "independently of the contract module, allows it (no guard missing, none too strict)",
    "no stuck funds: after the last deadline and every honest party's reactions, the "
    "contract owes honest parties nothing",
)


class InvariantViolation(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantViolation(message)


@dataclass
class SessionLedger:
    """One session, rebuilt from canonical receipts, with no help from the contract."""

    collector: str
    config: dict
    phase: int = 0  # 0 pending, 1 reviewing, 2 reviewed, 3 closed
    deadline: int = 0
    candidate: str | None = None
    optimal: str | None = None
    reviewed: bool = False
    registered: dict = field(default_factory=dict)  # pid -> root
    sampled: dict = field(default_factory=dict)
    featured: set = field(default_factory=set)
    chunks: list = field(default_factory=list)  # revealed keys, chunk by chunk
    deposits_claimed: set = field(default_factory=set)
    refunded: bool = False
    paid_in: int = 0
    paid_out: int = 0

    def is_expired(self, now: int) -> bool:
        return self.phase != 3 and now >= self.deadline

    def compensation(self) -> int:
        return self.config["cf_reward"] * self.config["cf_pct_bps"] // BPS

    def forfeiter(self, now: int):
        if not self.is_expired(now):
            return None
        if self.phase == 1 and not self.reviewed:
            return self.candidate
        return self.optimal if self.phase == 2 else None

    def deposit_due(self, pid: str, now: int) -> int:
        due = self.config["cf_deposit"]
        if pid == self.candidate and self.is_expired(now) and self.phase == 1 and self.reviewed:
            due += self.compensation()
        return due

    def refund_due(self, now: int) -> int:
        refund = self.config["cf_reward"]
        if self.is_expired(now) and self.phase == 1 and self.reviewed:
            refund -= self.compensation()
        return refund + (self.config["cf_deposit"] if self.forfeiter(now) else 0)

    def owed(self, now: int) -> dict[str, int]:
        """What the session still owes, to whom, at time `now`."""
        if self.phase != 3 and not self.is_expired(now):
            owed = {pid: self.config["cf_deposit"] for pid in self.registered}
            owed[self.collector] = owed.get(self.collector, 0) + self.config["cf_reward"]
            return owed
        owed = {
            pid: self.deposit_due(pid, now)
            for pid in self.registered
            if pid not in self.deposits_claimed and pid != self.forfeiter(now)
        }
        if self.phase != 3 and not self.refunded:
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


def get_refusal(ledgers: dict, tx, now: int) -> str | None:
    """Why Prot_SC's policy (the module docstring of hyperx.spec.contract, restated
    here from the paper) refuses this call in this state, or None if it allows it.
    Every receipt must agree: no mutant may refuse what the policy allows."""
    name, args, sender = tx.call.name, tx.call.args, tx.sender
    if name != "registration" and name != "create_session" and tx.value:
        return "value sent to a non-payable interface"
    if name == "create_session":
        reward, _, pct, shards, evaluation, review, claim, adr = args
        return _first_refusal(
            (reward > 0 and tx.value == reward, "reward not escrowed"),
            (0 < pct <= BPS and 0 < shards <= MAX_SHARDS and shards * pct >= BPS, "bad sample"),
            (now < evaluation <= now + MAX_PERIOD_S, "evaluation deadline out of range"),
            (0 < review <= MAX_PERIOD_S and 0 < claim <= MAX_PERIOD_S, "period out of range"),
            (len(adr) == 32 and adr != ZERO_HASH, "no extractor"),
        )
    if args[0] not in ledgers:
        return "unknown session"
    ledger = ledgers[args[0]]
    config = ledger.config
    evaluation_open = ledger.phase == 0 and now < config["cf_evaluation_deadline"]
    is_collector = sender == ledger.collector
    if name == "registration":
        _, root, n = args
        return _first_refusal(
            (evaluation_open, "evaluation over"),
            (tx.value == config["cf_deposit"], "value is not the deposit"),
            (sender not in ledger.registered, "registered twice"),
            (n == config["cf_shards"] and len(root) == 32 and root != ZERO_HASH, "bad commitment"),
        )
    if name == "sample_data":
        _, pid, indices = args
        bound = min(MAX_SAMPLE, config["cf_shards"] * config["cf_pct_bps"] // BPS)
        return _first_refusal(
            (is_collector and evaluation_open, "not the collector, or evaluation over"),
            (pid in ledger.registered and pid not in ledger.sampled, "unregistered or sampled"),
            (0 < len(indices) <= bound, "sample size out of bounds"),
            (
                list(indices) == sorted(set(indices))
                and all(0 <= i < config["cf_shards"] for i in indices),
                "bad indices",
            ),
        )
    if name == "submit_features":
        adr = args[1]
        return _first_refusal(
            (evaluation_open and sender in ledger.sampled, "evaluation over, or not sampled"),
            (sender not in ledger.featured, "features twice"),
            (len(adr) == 32 and adr != ZERO_HASH, "no feature address"),
        )
    if name == "set_candidate":
        return _first_refusal(
            (is_collector and ledger.phase == 0 and now < ledger.deadline, "not pending"),
            (args[1] in ledger.featured, "candidate without features"),
        )
    if name == "submit_review":
        _, indices, keys, proofs, sealed = args
        root = ledger.registered.get(sender)
        return _first_refusal(
            (sender == ledger.candidate and ledger.phase == 1, "not the reviewing candidate"),
            (not ledger.reviewed and now < ledger.deadline, "reviewed, or expired"),
            (list(indices) == ledger.sampled.get(sender), "not the sample"),
            (len(keys) == len(indices) == len(proofs), "one key and proof per index"),
            (
                all(
                    is_valid_merkle_proof(k, i, p, root, config["cf_shards"])
                    for k, i, p in zip(keys, indices, proofs, strict=False)
                ),
                "keys do not open the root",
            ),
            (0 < len(sealed) <= MAX_SEALED_KEY_BYTES, "sealed key length"),
        )
    if name == "set_optimal":
        return _first_refusal(
            (is_collector and ledger.phase == 1 and ledger.reviewed, "no review to promote"),
            (
                now < ledger.deadline and args[1] == ledger.candidate,
                "expired, or not the candidate",
            ),
        )
    if name == "claim_reward":
        _, chunk, keys, proof = args
        return _first_refusal(
            (sender == ledger.optimal and ledger.phase == 2, "not the optimal provider"),
            (now < ledger.deadline and chunk == len(ledger.chunks), "expired, or out of order"),
            (
                is_valid_chunk(
                    keys, chunk, proof, ledger.registered.get(sender), config["cf_shards"]
                ),
                "keys do not open the root",
            ),
        )
    if name == "claim_deposit":
        return _first_refusal(
            (
                sender in ledger.registered and sender not in ledger.deposits_claimed,
                "unregistered, or claimed",
            ),
            (ledger.phase == 3 or now >= ledger.deadline, "session still open"),
            (sender != ledger.forfeiter(now), "forfeited"),
        )
    return _first_refusal(  # claim_refund
        (
            is_collector and ledger.is_expired(now) and not ledger.refunded,
            "not the collector, not expired, or refunded",
        ),
    )


def _first_refusal(*conditions: tuple[bool, str]) -> str | None:
    return next((reason for holds, reason in conditions if not holds), None)


def _check_receipt(ledgers: dict, receipt, now: int) -> None:
    tx = receipt.tx
    names = [e.name for e in receipt.events]
    check(len(names) == 1, f"tx {tx.tx_id} ({tx.call.name}) emitted {names}, not one event")
    event = receipt.events[0]
    args, sender, name = event.args, tx.sender, event.name
    transfers = list(receipt.transfers)
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
    check(sid in ledgers, f"{name} for unknown session {sid}")
    ledger = ledgers[sid]
    config = ledger.config
    ledger.paid_in += tx.value
    ledger.paid_out += sum(amount for _, amount in transfers)
    check(ledger.paid_out <= ledger.paid_in, f"session {sid}: paid out more than it took in")
    evaluation_open = ledger.phase == 0 and now < config["cf_evaluation_deadline"]
    if name == "Registration":
        check(evaluation_open, f"session {sid}: registration outside evaluation")
        check(tx.value == config["cf_deposit"], f"session {sid}: deposit {tx.value}")
        check(sender not in ledger.registered and sender == args["pid"], "registration twice")
        check(args["n_shards"] == config["cf_shards"], f"session {sid}: wrong shard count")
        ledger.registered[sender] = args["adr_data_root"]
    elif name == "SampleData":
        indices, pid = list(args["indices"]), args["pid"]
        bound = min(MAX_SAMPLE, config["cf_shards"] * config["cf_pct_bps"] // BPS)
        check(sender == ledger.collector, f"session {sid}: sample_data by {sender}")
        check(evaluation_open, f"session {sid}: sample outside evaluation")
        check(pid in ledger.registered, f"session {sid}: sample of unregistered {pid}")
        check(pid not in ledger.sampled, f"session {sid}: {pid} sampled twice")
        check(0 < len(indices) <= bound, f"session {sid}: sample of {len(indices)} > bound {bound}")
        check(
            indices == sorted(set(indices)) and all(0 <= i < config["cf_shards"] for i in indices),
            f"session {sid}: sample indices {indices}",
        )
        ledger.sampled[pid] = indices
    elif name == "SubmitFeatures":
        check(evaluation_open, f"session {sid}: features outside evaluation")
        check(
            sender in ledger.sampled and sender not in ledger.featured,
            f"session {sid}: features from {sender} unsampled or twice",
        )
        ledger.featured.add(sender)
    elif name == "SetCandidate":
        check(sender == ledger.collector, f"session {sid}: set_candidate by {sender}")
        check(ledger.phase == 0 and now < ledger.deadline, f"session {sid}: set_candidate late")
        check(args["pid"] in ledger.featured, f"session {sid}: candidate without features")
        ledger.phase, ledger.candidate = 1, args["pid"]
        ledger.deadline = now + config["cf_review_s"]
    elif name == "SubmitReview":
        check(sender == ledger.candidate, f"session {sid}: review by {sender}, not the candidate")
        check(
            ledger.phase == 1 and not ledger.reviewed and now < ledger.deadline,
            f"session {sid}: review out of turn",
        )
        check(
            list(args["indices"]) == ledger.sampled[sender],
            f"session {sid}: review of other shards",
        )
        root = ledger.registered[sender]
        proofs = tx.call.args[3]
        check(
            all(
                is_valid_merkle_proof(k, i, p, root, config["cf_shards"])
                for k, i, p in zip(args["keys"], args["indices"], proofs, strict=True)
            ),
            f"session {sid}: review keys do not open the commitment",
        )
        ledger.reviewed, ledger.deadline = True, now + config["cf_review_s"]
    elif name == "SetOptimal":
        check(sender == ledger.collector, f"session {sid}: set_optimal by {sender}")
        check(
            ledger.phase == 1 and ledger.reviewed and now < ledger.deadline,
            f"session {sid}: set_optimal out of turn",
        )
        check(args["pid"] == ledger.candidate, f"session {sid}: optimal is not the candidate")
        ledger.phase, ledger.optimal = 2, args["pid"]
        ledger.deadline = now + config["cf_claim_s"]
    elif name == "ClaimReward":
        check(
            sender == ledger.optimal and ledger.phase == 2 and now < ledger.deadline,
            f"session {sid}: claim_reward by {sender} out of turn",
        )
        chunk = len(ledger.chunks)
        check(
            args["chunk_index"] == chunk, f"session {sid}: chunk {args['chunk_index']} != {chunk}"
        )
        check(
            is_valid_chunk(
                args["keys"], chunk, tx.call.args[3], ledger.registered[sender], config["cf_shards"]
            ),
            f"session {sid}: chunk keys do not open the root",
        )
        ledger.chunks.append(list(args["keys"]))
        if len(ledger.chunks) == get_chunk_count(config["cf_shards"]):
            revealed = [k for c in ledger.chunks for k in c]
            check(
                compute_merkle_root(revealed) == ledger.registered[sender],
                f"session {sid}: paid before every key was revealed",
            )
            check(
                transfers == [(sender, config["cf_reward"])],
                f"session {sid}: reward transfers {transfers}",
            )
            ledger.phase = 3
            return
    elif name == "ClaimDeposit":
        check(
            sender in ledger.registered and sender not in ledger.deposits_claimed,
            f"session {sid}: deposit claim by {sender} unregistered or twice",
        )
        check(
            ledger.phase == 3 or now >= ledger.deadline, f"session {sid}: deposit before settlement"
        )
        check(
            sender != ledger.forfeiter(now), f"session {sid}: forfeiter {sender} took its deposit"
        )
        due = ledger.deposit_due(sender, now)
        check(
            transfers == [(sender, due)], f"session {sid}: deposit transfers {transfers}, due {due}"
        )
        ledger.deposits_claimed.add(sender)
        return
    elif name == "ClaimRefund":
        check(
            sender == ledger.collector and ledger.is_expired(now) and not ledger.refunded,
            f"session {sid}: refund by {sender} not after expiry or twice",
        )
        due = ledger.refund_due(now)
        check(
            transfers == [(sender, due)], f"session {sid}: refund transfers {transfers}, due {due}"
        )
        ledger.refunded = True
        return
    check(not transfers, f"session {sid}: {name} moved money: {transfers}")


def check_no_stuck_funds(world: World, ledgers: dict[int, SessionLedger]) -> None:
    now = world.chain.now
    for sid, ledger in ledgers.items():
        check(ledger.phase == 3 or ledger.is_expired(now), f"session {sid} still open at the end")
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
    extra = on(real.adversary_reads, honest) - ideal.adversary_reads
    check(not extra, f"the adversary reads honest shards beyond the ideal leak: {sorted(extra)}")


def run_to_completion(world: World) -> None:
    world.finish()
    ledgers = check_chain(world)
    check_no_stuck_funds(world, ledgers)
    compare_worlds(world)


# The environment


@dataclass
class _Stats:
    schedules: int = 0
    steps: int = 0
    last_trace: list | None = None
    outcomes: Counter = field(default_factory=Counter)


quality = st.integers(0, 9)


class RefinementMachine(RuleBasedStateMachine):
    """Subclassed per run with `contract_module` (Prot_SC, maybe mutated) and `stats`."""

    contract_module = None
    min_steps = 0
    stats: _Stats = _Stats()

    parties = Bundle("parties")
    sessions = Bundle("sessions")
    txs = Bundle("txs")

    def __init__(self):
        super().__init__()
        self.world = World(self.contract_module, N_PROVIDERS)
        self.known_txs: set[int] = set()
        self.steps = 0  # environment instructions run
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
        shards=st.sampled_from([4, 8, 16]),
        evaluation_s=st.sampled_from([200, 600, 900]),
        threshold=st.sampled_from([0, 300, 600]),
        qualities=st.lists(quality, min_size=N_PROVIDERS, max_size=N_PROVIDERS),
        byzantine=st.one_of(
            st.none(),
            st.sampled_from(BYZANTINE_PLANS),
            st.tuples(st.sampled_from(PARTY_NAMES), st.sampled_from(CORRUPTION_POINTS)),
        ),
    )
    def first_session(self, reward, pct_bps, shards, evaluation_s, threshold, qualities, byzantine):
        """Most schedules need a session with providers, and often a Byzantine
        party: start one, let the providers join once its creation is final, and
        maybe hand one party to the adversary (now, or at a step of the protocol)."""
        self._start(reward, pct_bps, shards, evaluation_s, threshold)
        self._step({"op": "advance", "seconds": 3})
        for i, q in enumerate(qualities):
            self._step({"op": "join", "provider": i, "sid": 0, "quality": q})
        if byzantine is not None:
            self._step({"op": "corrupt", "party": byzantine[0], "at": byzantine[1]})
        return 0

    def _start(self, reward, pct_bps, shards, evaluation_s, threshold) -> int:
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
        evaluation_s=st.sampled_from([200, 600]),
        threshold=st.sampled_from([0, 500]),
    )
    def start_session(self, reward, shards, evaluation_s, threshold):
        return self._start(reward, 2_500, shards, evaluation_s, threshold)

    @rule(target=txs, provider=st.integers(0, N_PROVIDERS - 1), sid=sessions, quality=quality)
    def join(self, provider, sid, quality):
        return self._step({"op": "join", "provider": provider, "sid": sid, "quality": quality})

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
        sid=st.one_of(sessions, sessions, sessions, st.sampled_from([-1, 1, MAX_SESSIONS + 1])),
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

    @invariant()
    def chain_invariants(self):
        check_chain(self.world)

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


def run_refinement(
    contract_module=None,
    *,
    schedules: int,
    min_steps: int = 20,
    seed: int | None = None,
    shrink: bool = True,
) -> RefinementReport:
    """Run `schedules` random schedules of at least `min_steps` steps each (the
    initial session and joins count) against Prot_SC, or against `contract_module`
    (a mutated copy of hyperx.spec.contract with the same API). The first failure
    ends the run; with `shrink` (default) Hypothesis first shrinks it, and the
    report's failing_trace is the shrunk schedule. `seed` makes the run replay."""
    stats = _Stats()
    machine = type(
        "RefinementMachine",
        (RefinementMachine,),
        {"contract_module": contract_module, "stats": stats, "min_steps": min_steps},
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
    )


def replay(trace: dict, contract_module=None) -> RefinementReport:
    """Run one saved schedule again, with every check of the suite."""
    check_trace(trace)
    start = time.perf_counter()
    world = World(contract_module, trace["providers"])
    message = None
    try:
        for step in trace["steps"]:
            world.apply(step)
            check_chain(world)
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

"""Schedules are data: the environment's instructions, and the two worlds they drive.

A schedule is a list of plain JSON instructions (`"op"` names the kind):

  start_session  the collector starts a session: reward, deposit, pct_bps, shards,
                 evaluation_s (cf_evaluation_deadline = now + evaluation_s), threshold,
                 and optionally its periods review_s and claim_s (default PERIOD_S)
  join           provider i joins session sid with a dataset of this quality (0-9)
  mine           one block, gap seconds after the head (1..MAX_GAP_S), holding the
                 listed pending transactions in that order (the rest wait)
  advance        let time pass by this many seconds: honest transactions are mined
                 block by block, and each jump in time ends with a block holding
                 everything pending (the adversary's transactions included)
  drop           a pending transaction vanishes from the mempool
  reorg          the last depth non-final blocks are dropped; their transactions go
                 back to the mempool (requeue) or are lost
  corrupt        a party (C, P0, P1, ...) is handed to the adversary, now or at the
                 first final event of a given name (see CORRUPTION_POINTS)
  deviate        the same, and at that moment the party makes one call (interface,
                 variant, target as for `call`): a Byzantine party's planned move;
                 party P* is whichever provider the triggering event names (the
                 candidate at SetCandidate, the optimal provider at SetOptimal)
  copy           a corrupted party (as; X included) re-sends a transaction ever
                 broadcast, by anyone, as its own: front-running, impersonation and
                 replay in one
  call           a corrupted party (or X, the adversary's own account, corrupted
                 from the start) calls an interface of Prot_SC: session, target
                 provider, and a variant naming the arguments (see VARIANTS)
  store          a corrupted provider puts encrypted shards of its own on F_DS
                 (its sample, or all of them): a withholding provider catching up
  reorg_latest   the blocks from the one holding the latest successful call of a
                 deal-phase interface (SubmitReview ... DisputeClaim) on are
                 dropped, if none of them is final (paper Figure 4, aimed)
  miscommit      provider i is handed to the adversary, joins session sid with a
                 dataset of this quality but one shard miscommitted (target: which,
                 and how; see `_miscommit`), and otherwise follows the protocol (a
                 puppet: its own code runs, its moves are the adversary's)

A trace file is {"version": 1, "providers": n, "steps": [instruction, ...]}.

After every instruction all parties react (`on_block`): honest parties are always
online. At the end (`finish`) time runs past every deadline, honest parties pull
their money, and so does the adversary for its corrupted parties. `World` runs the real world (Prot_COL, Prot_PRI, Prot_SC over F_BC and
F_DS) and, through the simulator, the ideal world (F_HyperX), and reads off what
the refinement compares.

The liveness assumption (paper 2.3, eventual finality), as the environment obeys
it: the environment may delay, reorder or drop transactions and reorganise
non-final blocks, but
- a transaction of an honest party pending for DELTA_BLOCKS blocks is included in
  the next block (and an honest party re-sends what a drop or reorg removed);
- blocks the environment mines are at most MAX_GAP_S seconds apart, and `advance`
  never jumps past an instant at which an honest party has to act (a session's
  evaluation deadline or deadline) before the parties have reacted;
- at most MAX_DISRUPTIONS drops and reorganisations per schedule.
So an honest reaction lands within HOP_BOUND_S seconds of the final event it
answers, and every period (cf_review_s, cf_claim_s) is longer: honest parties
always meet their deadlines. Without these the refinement would rightly fail, as
an honest party could then be penalised.
"""

from dataclasses import dataclass, replace

from . import contract, parties
from .chain import Blockchain, Transaction
from .config import BPS, MASTER_KEY_SLOT, MAX_PERIOD_S, MAX_SHARDS, MIN_PERIOD_S, ZERO_HASH
from .contract import Address
from .datastore import Datastore
from .ideal import (
    ABORTED_AFTER_REVIEW,
    CANDIDATE_FORFEITED,
    CLAIM_REJECTED,
    DEAL_CLOSED,
    NO_DEAL,
    OPTIMAL_FORFEITED,
    REVIEW_REJECTED,
    FHyperX,
)
from .merkle import (
    compute_claim_digest,
    compute_merkle_proof,
    compute_merkle_root,
    compute_review_digest,
    keccak256,
)
from .parties import (
    CLOSED,
    PENDING,
    REVIEWED,
    REVIEWING,
    Party,
    SessionView,
    Task,
    compute_sample_size,
    encode_manifest,
)
from .sealing import (
    compute_key_hash,
    compute_shard_key,
    decrypt_shard,
    draw_ephemeral,
    encrypt_shard,
    get_features_context,
    open_sealed_key,
    seal_features,
    seal_master_key,
)
from .secp256k1 import compute_public_address, compute_public_key, derive_secret
from .simulator import Simulator

FINALITY_DEPTH = 2
MAX_GAP_S = 10
DELTA_BLOCKS = 2
MAX_DISRUPTIONS = 3
# One honest hop: final after FINALITY_DEPTH blocks, included within DELTA_BLOCKS + 1
# more, each disruption costing at most as much again; every block <= MAX_GAP_S.
HOP_BOUND_S = (FINALITY_DEPTH + DELTA_BLOCKS + 1) * (1 + MAX_DISRUPTIONS) * MAX_GAP_S
PERIOD_S = 300  # the default cf_review_s and cf_claim_s: longer than one hop
EVALUATION_SLACK_S = 2 * HOP_BOUND_S  # sample + features after a registration
OUTSIDER = "X"
ANY_PROVIDER = "P*"  # in corrupt and deviate: the provider the triggering event names
MAX_JOIN_SHARDS = 4_096
GENESIS_TIME = 1_700_000_000
COLLECTOR_FUNDS = 10**9
PROVIDER_FUNDS = 10**7
SIGMA = 37  # the collector's obfuscation offset: features are quality + SIGMA (mod 256)

INTERFACE_NAMES = tuple(contract.INTERFACES)
# How a corrupted party forms a call's arguments: "honest", as an honest party of
# its role would (it may still call at the wrong time, twice, or in a wrong role);
# "wrong", breaking one rule of the call (chosen by its target); "withhold"
# (registration), committing shards it does not store; "other": (registration) one
# shard miscommitted (`_miscommit`), (submit_features) features of better data than
# it committed (the residual of hyperx.spec.contract), and (set_optimal) the
# session's candidate whoever the target.
VARIANTS = ("honest", "wrong", "withhold", "other")
DEAL_EVENTS = ("SubmitReview", "DisputeReview", "SetOptimal", "ClaimReward", "DisputeClaim")
# When a corruption takes effect: now, or as the first final event of that name
# arrives (before the party can react to it): a Byzantine party that deviates at
# one chosen step of the protocol.
CORRUPTION_POINTS = (
    "now",
    "Registration",
    "SampleData",
    "SubmitFeatures",
    "SetCandidate",
    "SubmitReview",
    "SetOptimal",
    "ClaimReward",
)
STORE_WHICH = ("sample", "all")

_FIELDS = {
    "start_session": {
        "reward": int,
        "deposit": int,
        "pct_bps": int,
        "shards": int,
        "evaluation_s": int,
        "threshold": int,
    },
    "join": {"provider": int, "sid": int, "quality": int},
    "mine": {"gap": int, "include": list},
    "advance": {"seconds": int},
    "drop": {"tx": int},
    "reorg": {"depth": int, "requeue": bool},
    "corrupt": {"party": str, "at": str},
    "deviate": {"party": str, "at": str, "interface": str, "variant": str, "target": int},
    "copy": {"tx": int, "as": str},
    "call": {"party": str, "interface": str, "sid": int, "variant": str, "target": int},
    "store": {"party": str, "sid": int, "which": str},
    "reorg_latest": {"event": str, "requeue": bool},
    "miscommit": {"provider": int, "sid": int, "quality": int, "target": int},
}
# Fields an instruction may leave out (older traces do), with their defaults
_OPTIONAL = {"start_session": {"review_s": PERIOD_S, "claim_s": PERIOD_S}}


def validate_instruction(instruction) -> dict:
    """The instruction, checked; ValueError with the reason otherwise."""
    if not isinstance(instruction, dict) or instruction.get("op") not in _FIELDS:
        raise ValueError(
            f"not an instruction (op must be one of {sorted(_FIELDS)}): {instruction!r}"
        )
    op = instruction["op"]
    optional = _OPTIONAL.get(op, {})
    fields = {**_FIELDS[op], **{name: type(default) for name, default in optional.items()}}
    for name, kind in fields.items():
        value = instruction.get(name, optional.get(name))
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"{op}: field {name!r} must be {kind.__name__}, got {value!r}")
    if op == "mine" and not all(isinstance(i, int) for i in instruction["include"]):
        raise ValueError(f"mine: include must list transaction ids, got {instruction['include']!r}")
    if op in ("corrupt", "deviate") and instruction["at"] not in CORRUPTION_POINTS:
        raise ValueError(f"{op}: at must be one of {CORRUPTION_POINTS}")
    if op in ("call", "deviate") and instruction["interface"] not in INTERFACE_NAMES:
        raise ValueError(f"{op}: unknown interface {instruction['interface']!r}")
    if op in ("call", "deviate") and instruction["variant"] not in VARIANTS:
        raise ValueError(f"{op}: variant must be one of {VARIANTS}")
    if op == "store" and instruction["which"] not in STORE_WHICH:
        raise ValueError(f"store: which must be one of {STORE_WHICH}")
    if op == "reorg_latest" and instruction["event"] not in DEAL_EVENTS:
        raise ValueError(f"reorg_latest: event must be one of {DEAL_EVENTS}")
    return instruction


def make_extractor_blob(index: int) -> bytes:
    return bytes([SIGMA]) + b"hyperx-extractor-%d" % index


def extract_features(extractor_blob: bytes, plaintexts: list[bytes]) -> bytes:
    """A cheap stand-in for M_extractor: each shard's quality byte, offset by the
    blob's secret (the obfuscation); features of exactly the given shards."""
    return bytes((shard[0] + extractor_blob[0]) % 256 for shard in plaintexts)


def evaluate_features(features: bytes) -> int:
    """The collector's evaluator: the mean decoded quality byte, in whole levels (a
    dataset of quality q scores 100 * q or 100 * (q - 1)), so that scores tie and
    meet the thresholds (0, 300, 500, 600) exactly, and the edges are exercised."""
    if not features:
        return 0
    return sum((f - SIGMA) % 256 for f in features) // len(features) // 10 * 100


def make_dataset(name: str, sid: int, quality: int, shards: int) -> list[bytes]:
    """Shard i: a quality byte (quality * 10, spread by +-4 per shard) and filler."""
    dataset = []
    for i in range(shards):
        filler = keccak256(f"{name}/{sid}/{i}".encode())
        spread = filler[0] % 9 - 4
        dataset.append(bytes([max(0, min(99, quality * 10 + spread))]) + filler[1:16])
    return dataset


def party_secret(name: str) -> int:
    """The signing key of a party of the schedules (so the same schedule can run on
    an EVM, where a transaction needs a key)."""
    return derive_secret(b"hyperx-party-" + name.encode())


def address_of(name: str) -> Address:
    return "0x" + compute_public_address(party_secret(name)).hex()


@dataclass
class Observables:
    """What the environment compares between the worlds, for honest parties."""

    balances: dict[str, int]
    outcomes: dict[int, tuple]
    collector_reads: frozenset  # (sid, provider name, shard index)
    adversary_reads: frozenset
    # what the collector holds: shards it kept whose plaintext is the provider's
    collector_holds: frozenset = frozenset()


class World:
    def __init__(
        self,
        contract_module=None,
        n_providers: int = 3,
        parties_module=None,
        with_ideal: bool = True,
    ):
        # Prot_SC, Prot_COL and Prot_PRI: the spec's, or mutated copies with the same API
        self.contract_module = contract_module or contract
        self.parties_module = parties_module or parties
        # without the ideal world: the real one alone (the economic adversary's use)
        self.with_ideal = with_ideal
        self.chain = Blockchain(
            finality_depth=FINALITY_DEPTH,
            genesis_time=GENESIS_TIME,
            interfaces=dict(self.contract_module.INTERFACES),
        )
        self.datastore = Datastore()
        self.names = ["C"] + [f"P{i}" for i in range(n_providers)]
        self.address = {name: address_of(name) for name in self.names}
        self.name_of = {a: n for n, a in self.address.items()}
        roles = self.parties_module
        self.collector = roles.Collector(
            self.address["C"], extract_features, evaluate_features, b"C"
        )
        offer_keys = {self.address["C"]: self.collector.offer_key}
        self.providers = [
            roles.Provider(
                self.address[f"P{i}"], extract_features, offer_keys, f"P{i}".encode(), PERIOD_S
            )
            for i in range(n_providers)
        ]
        self.parties: dict[str, Party] = {"C": self.collector}
        self.parties.update({f"P{i}": p for i, p in enumerate(self.providers)})
        # X: the adversary's own account, outside the protocol, corrupted from the
        # start: it may call any interface in any role, like a corrupted party
        self.address[OUTSIDER] = address_of(OUTSIDER)
        self.name_of[self.address[OUTSIDER]] = OUTSIDER
        self.parties[OUTSIDER] = roles.Party(self.address[OUTSIDER])
        self.chain.fund(self.address["C"], COLLECTOR_FUNDS)
        for name in self.parties:
            if name != "C":
                self.chain.fund(self.address[name], PROVIDER_FUNDS)
        self.initial = dict(self.chain.balances)
        self.ideal = FHyperX(extract_features, evaluate_features, self.initial, EVALUATION_SLACK_S)
        self.simulator = Simulator(self.ideal)
        self.parties[OUTSIDER].corrupt()
        self.simulator.on_corrupt(self.address[OUTSIDER])
        # a valid curve point nobody uses: the public key of a throwaway secret
        self.junk_point = compute_public_key(derive_secret(b"hyperx-junk-point"))
        self.seen: dict[int, Transaction] = {}  # every transaction ever broadcast
        self.first_seen: dict[int, int] = {}  # tx id -> height when first pending
        self.disruptions = 0
        self.sessions_started = 0
        self.last_jump = 0
        self.final_seen = 0
        self.urgent: set[int] = set()  # planned adversary moves, mined as promptly as honest ones
        self.honest_sent: set[int] = set()  # transactions a party sent while honest
        self.aimed_reorgs: list[dict] = []  # reorg_latest instructions still waiting
        # event name -> (party to corrupt, the call it then makes or None)
        self.corruptions: dict[str, list[tuple[str, dict | None]]] = {}
        self.trace: list[dict] = []
        self.public: dict[int, SessionView] = {}  # sid -> the session, from final events
        # callables world -> None, run after every reaction (the verifier's watches)
        self.observers: list = []
        # (sid, provider) -> shards a corrupted provider committed as junk ciphertext
        self.junk_shards: dict[tuple[int, Address], set[int]] = {}
        self.puppets: set[str] = set()  # corrupted parties that follow the protocol

    # Reading the world

    def is_honest(self, name: str) -> bool:
        return not self.parties[name].corrupted

    def is_live_tx(self, tx: Transaction) -> bool:
        """A transaction liveness gets included: an honest party's, or a planned move."""
        return self.is_honest_tx(tx) or tx.tx_id in self.urgent

    def is_honest_tx(self, tx: Transaction) -> bool:
        return tx.sender in self.name_of and self.is_honest(self.name_of[tx.sender])

    def views(self) -> dict[int, SessionView]:
        """Every session as the public sees it from final events: the environment's
        own reading, with the spec's SessionView, never the parties' (a party under
        test may misread the chain; the outcomes and deadlines the checks use may not)."""
        return self.public

    def _observe(self, event, timestamp: int) -> None:
        if event.name == "CreateSession":
            self.public[event.args["sid"]] = SessionView.from_create(event)
        elif event.args.get("sid") in self.public:
            self.public[event.args["sid"]].apply(event, timestamp)

    def new_tx_ids(self, known: set[int]) -> list[int]:
        return [i for i in self.seen if i not in known]

    # Driving the world

    def apply(self, instruction: dict) -> bool:
        """Run one instruction, then let everyone react. False: it did nothing."""
        validate_instruction(instruction)
        self.trace.append(instruction)
        done = getattr(self, "_op_" + instruction["op"])(instruction)
        self.react()
        return done is not False

    def react(self) -> None:
        self.aimed_reorgs = [ins for ins in self.aimed_reorgs if not self._fire_aimed_reorg(ins)]
        planned = []  # moves of parties corrupted now, made once their view is current
        for number in range(self.final_seen + 1, self.chain.final_height + 1):
            block = self.chain.blocks[number]
            for receipt in block.receipts:
                for event in receipt.events if receipt.success else ():
                    self._observe(event, block.timestamp)
                    for name, move in self.corruptions.pop(event.name, []):
                        if name == ANY_PROVIDER:  # whichever provider the event names
                            name = self.name_of.get(event.args.get("pid"), "")
                            if name not in self.parties or name in ("C", OUTSIDER):
                                continue
                            move = None if move is None else {**move, "party": name}
                        self._corrupt(name)
                        if move is not None:
                            planned.append(move)
        self.final_seen = self.chain.final_height
        for name, party in self.parties.items():
            if name in self.puppets:
                self._run_puppet(party)
            else:
                party.on_block(self.chain, self.datastore)
        for move in planned:  # the adversary sees its planned move mined like an honest one
            known = set(tx.tx_id for tx in self.chain.mempool)
            self._op_call(move)
            self.urgent.update(tx.tx_id for tx in self.chain.mempool if tx.tx_id not in known)
        for tx in self.chain.mempool:
            if tx.tx_id not in self.seen:
                self.seen[tx.tx_id] = tx
                self.first_seen[tx.tx_id] = self.chain.height
                if self.is_honest_tx(tx):
                    self.honest_sent.add(tx.tx_id)
                    self._register_delivery(tx, True)
                elif self.name_of.get(tx.sender) in self.puppets:
                    self.urgent.add(tx.tx_id)  # the adversary has its puppet keep time
                    as_built = {"sid": tx.call.args[0], "interface": tx.call.name, "variant": ""}
                    puppet = self.parties[self.name_of[tx.sender]]
                    self._register_delivery(tx, seals_committed_keys(puppet, as_built))
        if self.with_ideal:
            self.simulator.observe(self.chain, self.datastore)
        for observer in self.observers:
            observer(self)

    def _register_delivery(self, tx: Transaction, keys_good: bool) -> None:
        """Tell the simulator how a review or a claim was built (honest parties
        build good ones; a corrupted party's are the adversary's choice)."""
        args = tx.call.args
        if tx.call.name == "submit_review" and len(args) == 7:
            digest = compute_review_digest(args[5], args[6], args[3])
        elif tx.call.name == "claim_reward" and len(args) == 3:
            digest = compute_claim_digest(args[1], args[2])
        else:
            return
        self.simulator.on_delivery(args[0], digest, keys_good)

    def _op_start_session(self, ins: dict):
        if not self.is_honest("C"):
            return False
        blob = make_extractor_blob(self.sessions_started)
        self.sessions_started += 1
        periods = {
            name: ins.get(name, default) for name, default in _OPTIONAL["start_session"].items()
        }
        task = Task(
            ins["reward"],
            ins["deposit"],
            ins["pct_bps"],
            ins["shards"],
            ins["evaluation_s"],
            periods["review_s"],
            periods["claim_s"],
            ins["threshold"],
            blob,
        )
        self.simulator.on_task(self.datastore.store(blob), task)
        self.collector.start_session(self.chain, self.datastore, task)

    def _op_join(self, ins: dict):
        name = f"P{ins['provider']}"
        view = self.views().get(ins["sid"])
        if name not in self.parties or view is None or not self.is_honest(name):
            return False
        if view.config["cf_shards"] > MAX_JOIN_SHARDS:
            return False  # datasets this large are not part of these schedules
        dataset = make_dataset(name, ins["sid"], ins["quality"], view.config["cf_shards"])
        if self.is_acceptable(view):
            self.simulator.on_join(ins["sid"], self.address[name], dataset, self.chain.now)
        self.parties[name].join(ins["sid"], dataset)

    def is_acceptable(self, view) -> bool:
        """An honest provider's join policy (Figure 3, lines 46-47) as the environment
        reads it: the offer of the collector whose offer key the providers hold, on F_DS,
        with periods no shorter than their floor (PERIOD_S). A join outside it is asked
        all the same and told to no one: the provider must stay out of the session."""
        config = view.config
        return (
            view.collector == self.address["C"]
            and self.datastore.has(config["adr_theta"])
            and min(config["cf_review_s"], config["cf_claim_s"]) >= PERIOD_S
        )

    def _op_mine(self, ins: dict):
        pending = {tx.tx_id for tx in self.chain.mempool}
        include = [i for i in dict.fromkeys(ins["include"]) if i in pending]
        overdue = [
            tx.tx_id
            for tx in self.chain.mempool
            if self.is_live_tx(tx) and self.chain.height - self.first_seen[tx.tx_id] >= DELTA_BLOCKS
        ]
        include += [i for i in overdue if i not in include]
        self.chain.mine(self.chain.now + max(1, min(MAX_GAP_S, ins["gap"])), include=include)

    def _op_advance(self, ins: dict):
        self.settle()
        target = self.chain.now + max(1, ins["seconds"])
        while self.chain.now < target:
            wakeups = [w for w in self.wakeups() if w > self.chain.now]
            self._adversary_claims()
            self._fair_block(min([target] + wakeups), everything=True)
            self.last_jump = self.chain.height
            self.settle()

    def _op_drop(self, ins: dict):
        if self.disruptions >= MAX_DISRUPTIONS or ins["tx"] not in {
            t.tx_id for t in self.chain.mempool
        }:
            return False
        self.disruptions += 1
        self.chain.mempool = [tx for tx in self.chain.mempool if tx.tx_id != ins["tx"]]

    def _op_reorg(self, ins: dict):
        depth = ins["depth"]
        if (
            self.disruptions >= MAX_DISRUPTIONS
            or not 0 < depth <= self.chain.height - self.chain.final_height
        ):
            return False
        self.disruptions += 1
        self.chain.reorg(depth, requeue=ins["requeue"])

    def _op_reorg_latest(self, ins: dict):
        """Aim a reorganisation at the latest successful call of a deal-phase
        interface: now, if a block not yet final holds one; else as soon as one is
        mined (the instruction stays armed until then)."""
        if self.disruptions >= MAX_DISRUPTIONS:
            return False
        if not self._fire_aimed_reorg(ins):
            self.aimed_reorgs.append(ins)

    def _fire_aimed_reorg(self, ins: dict) -> bool:
        chain = self.chain
        blocks = [
            b.number
            for b in chain.blocks[chain.final_height + 1 :]
            if any(e.name == ins["event"] for r in b.receipts if r.success for e in r.events)
        ]
        if not blocks or self.disruptions >= MAX_DISRUPTIONS:
            return False
        self.disruptions += 1
        chain.reorg(chain.height - blocks[-1] + 1, requeue=ins["requeue"])
        return True

    def _op_store(self, ins: dict):
        """A corrupted provider publishes encrypted shards it had withheld."""
        party = self.parties.get(ins["party"])
        holding = getattr(party, "holdings", {}).get(ins["sid"])
        if party is None or not party.corrupted or holding is None:
            return False
        view = party.sessions.get(ins["sid"])
        sample = view.samples.get(party.address, []) if view is not None else []
        which = sample if ins["which"] == "sample" else range(len(holding.plaintexts))
        for index in which:
            key = holding.shard_keys[index]
            self.datastore.store(encrypt_shard(key, index, holding.plaintexts[index]))

    def _op_corrupt(self, ins: dict, move: dict | None = None):
        name = ins["party"]
        if name == ANY_PROVIDER and ins["at"] != "now":
            self.corruptions.setdefault(ins["at"], []).append((name, move))
            return None
        if name not in self.parties or not self.is_honest(name):
            return False
        if ins["at"] != "now":
            self.corruptions.setdefault(ins["at"], []).append((name, move))
            return None
        self._corrupt(name)
        if move is not None:
            self._op_call(move)

    def _op_deviate(self, ins: dict):
        move = {
            "op": "call",
            "sid": 0,
            **{k: ins[k] for k in ("party", "interface", "variant", "target")},
        }
        return self._op_corrupt(ins, move)

    def _run_puppet(self, party: Party) -> None:
        """A corrupted party the adversary lets its own code drive: it reacts as an
        honest one would, and the simulator learns what it commits and submits."""
        party.corrupted = False
        try:
            party.on_block(self.chain, self.datastore)
        finally:
            party.corrupted = True
        for sid, holding in party.holdings.items():
            self.tell_holding(sid, party, holding)
        for sid, (adr, features) in party.submitted_features.items():
            self.simulator.on_adversary_features(sid, party.address, adr, features)

    def _op_miscommit(self, ins: dict):
        name = f"P{ins['provider']}"
        view = self.views().get(ins["sid"])
        if name not in self.parties or view is None or not self.is_honest(name):
            return False
        party, sid = self.parties[name], ins["sid"]
        if sid in party.holdings or view.config["cf_shards"] > MAX_JOIN_SHARDS:
            return False
        self._corrupt(name)
        self.puppets.add(name)
        party.join(sid, make_dataset(name, sid, ins["quality"], view.config["cf_shards"]))
        party.ensure_holding(self.datastore, sid)
        party.holdings[sid] = _miscommit(self, sid, party, ins["target"])

    def tell_holding(self, sid: int, party: Party, holding) -> None:
        """The simulator learns a corrupted provider's dataset, its junk shards as None."""
        junk = self.junk_shards.get((sid, party.address), set())
        dataset = [None if i in junk else plain for i, plain in enumerate(holding.plaintexts)]
        self.simulator.on_adversary_holding(sid, party.address, dataset)

    def _corrupt(self, name: str) -> None:
        party = self.parties[name]
        if party.corrupted:
            return
        party.corrupt()
        self.simulator.on_corrupt(party.address)
        for sid, holding in getattr(party, "holdings", {}).items():
            self.tell_holding(sid, party, holding)
        for sid, (adr, features) in getattr(party, "submitted_features", {}).items():
            self.simulator.on_adversary_features(sid, party.address, adr, features)

    def _op_copy(self, ins: dict):
        tx = self.seen.get(ins["tx"])
        if tx is None or ins["as"] not in self.parties or self.is_honest(ins["as"]):
            return False
        self.chain.submit(self.address[ins["as"]], tx.value, tx.call.name, *tx.call.args)

    def _op_call(self, ins: dict):
        name = ins["party"]
        if name not in self.parties or self.is_honest(name):
            return False
        built = build_adversary_call(self, self.parties[name], ins)
        if built is None:
            return False
        value, interface, args = built
        tx = self.chain.submit(self.address[name], value, interface, *args)
        self._register_delivery(tx, seals_committed_keys(self.parties[name], ins))

    # Driving by hand (tests, the economic adversary)

    def mine_until(self, predicate, limit: int = 400) -> None:
        """Mine one block at a time, everything pending, until `predicate(self)`."""
        for _ in range(limit):
            if predicate(self):
                return
            self.apply({"op": "mine", "gap": 5, "include": [tx.tx_id for tx in self.chain.mempool]})
        raise AssertionError("hyperx: the world never reached the awaited state")

    def call_now(
        self, party: str, interface: str, variant: str = "honest", target: int = 0, sid: int = 0
    ) -> None:
        """A corrupted party's call, mined at once in a block of its own."""
        known = set(self.seen)
        self.apply(
            {
                "op": "call",
                "party": party,
                "interface": interface,
                "sid": sid,
                "variant": variant,
                "target": target,
            }
        )
        mine = [tx.tx_id for tx in self.chain.mempool if tx.tx_id not in known]
        self.apply({"op": "mine", "gap": 1, "include": mine})

    # Time, fairly

    def wakeups(self) -> list[int]:
        times = []
        for view in self.views().values():
            times += [view.config["cf_evaluation_deadline"], view.deadline]
        return times

    def _fair_block(self, timestamp: int, everything: bool = False) -> None:
        """A block the environment owes the honest parties: their pending
        transactions (or, at the end of a jump in time, everything pending)."""
        include = (
            None if everything else [tx.tx_id for tx in self.chain.mempool if self.is_live_tx(tx)]
        )
        self.chain.mine(max(timestamp, self.chain.now + 1), include=include)
        self.react()

    def is_quiescent(self) -> bool:
        """Nothing an honest party could still react to: no honest transaction
        pending, no recent call not yet final, and every deadline already passed
        (a timer's trigger) visible in a final block. Without the last clause a
        block stamped at a deadline could wait, unfinal, through the next jump in
        time, and an honest timer would fire too late."""
        chain = self.chain
        recent = chain.blocks[-FINALITY_DEPTH:]
        final_time = chain.blocks[chain.final_height].timestamp
        return (
            not any(self.is_live_tx(tx) for tx in chain.mempool)
            and not any(b.receipts for b in recent)
            and chain.final_height >= self.last_jump
            and not any(final_time < wakeup <= chain.now for wakeup in self.wakeups())
        )

    def settle(self) -> None:
        for _ in range(500):
            if self.is_quiescent():
                return
            self._fair_block(self.chain.now + 1)
        raise RuntimeError("hyperx: the world does not settle")

    def finish(self) -> None:
        """Run to completion: past every deadline, every honest party done."""
        self.settle()
        for _ in range(100):
            now = self.chain.blocks[self.chain.final_height].timestamp
            ahead = [w for w in self.wakeups() if w > now]
            if not ahead and not self.chain.mempool:
                break
            if ahead:
                self._adversary_claims()
            self._fair_block(min(ahead, default=self.chain.now + 1), everything=True)
            self.last_jump = self.chain.height
            self.settle()
        self._adversary_claims(everything=True)
        self._fair_block(self.chain.now + 1, everything=True)
        self.settle()
        if self.with_ideal:
            self.ideal.finish()

    def _adversary_claims(self, everything: bool = False) -> None:
        """The adversary takes whatever the contract pays its corrupted parties, as
        early as it might be paid: its claims ride in each block that ends a jump
        in time, stamped exactly at a deadline, and once more at the end (so every
        payout path, and every deadline's boundary, meets the checks). With
        `everything`, each corrupted party tries both pulls on every session,
        whatever it has already taken (a second refund, a deposit twice), and a
        corrupted collector tries to pick a candidate or promote it after expiry."""
        pending = {
            (tx.sender, tx.call.name, tx.call.args)
            for tx in self.chain.mempool
            if tx.call.name in ("claim_deposit", "claim_refund")
        }
        for party in self.parties.values():
            if not party.corrupted:
                continue
            for sid, view in party.sessions.items():
                claims = []
                if party.address in view.registered and party.address not in view.deposits_claimed:
                    claims.append("claim_deposit")
                if (
                    party.address == view.collector
                    and not view.is_deal()
                    and not view.refund_claimed
                ):
                    claims.append("claim_refund")
                if everything or (
                    party.address == self.address[OUTSIDER] and not view.is_settled(self.chain.now)
                ):
                    # X, in no role, tries to take the money the moment it is due
                    claims = ["claim_deposit", "claim_refund"]
                for name in claims:
                    if (party.address, name, (sid,)) not in pending:
                        self.chain.submit(party.address, 0, name, sid)
                if everything and party.address == view.collector:
                    # a collector that outlived its deadlines tries to revive the deal
                    if view.phase == PENDING and view.features:
                        key = compute_public_key(self.collector.review_secret(sid))
                        self.chain.submit(
                            party.address, 0, "set_candidate", sid, min(view.features), key
                        )
                    if view.phase == REVIEWING and view.candidate is not None:
                        self.chain.submit(party.address, 0, "set_optimal", sid, view.candidate)

    # Observables

    def revealed_review_secrets(self) -> set[int]:
        """Review-key secrets anyone may read: those shown in a dispute, even one
        that reverted (the transaction was broadcast)."""
        return {
            tx.call.args[1]
            for tx in self.seen.values()
            if tx.call.name in ("dispute_review", "dispute_claim") and len(tx.call.args) > 1
        }

    def readable(self, review_secrets: set[int]) -> set[tuple[int, str, int]]:
        """(sid, provider, index) of every shard whose plaintext these review-key
        secrets, with everything ever broadcast and F_DS, let one read: the keys
        sealed in reviews and claims open under them."""
        holdings = {
            (sid, provider.address): holding
            for provider in self.providers
            for sid, holding in provider.holdings.items()
        }
        known = set()  # (sid, provider address, index, shard key)
        for tx in self.seen.values():
            args, name = tx.call.args, tx.call.name
            if not args or args[0] < 0:
                continue  # a probe of a session that cannot exist
            if name == "submit_review" and len(args) == 7:
                sid, indices, _, _, _, ephemeral, sealed = args
                for secret in review_secrets:
                    for position, index in enumerate(indices):
                        key = open_sealed_key(secret, ephemeral, sealed[position], sid, position)
                        known.add((sid, tx.sender, index, key))
            elif name == "claim_reward" and len(args) == 3:
                sid, ephemeral, sealed = args
                holding = holdings.get((sid, tx.sender))
                for secret in review_secrets if holding is not None else ():
                    master = open_sealed_key(secret, ephemeral, sealed, sid, MASTER_KEY_SLOT)
                    for index in range(len(holding.cids) if master is not None else 0):
                        known.add((sid, tx.sender, index, compute_shard_key(master, index)))
        reads = set()
        for sid, pid, index, key in known:
            holding = holdings.get((sid, pid))
            if key is None or holding is None or not 0 <= index < len(holding.cids):
                continue
            cid = holding.cids[index]
            if self.datastore.has(cid) and decrypt_shard(key, index, self.datastore.get(cid)):
                reads.add((sid, self.name_of[pid], index))
        return reads

    def collector_holdings(self) -> set[tuple[int, str, int]]:
        """(sid, provider, index) of every shard the collector kept whose plaintext is
        the one the provider committed."""
        holdings = set()
        for (sid, pid), acquired in self.collector.acquired.items():
            provider = next((p for p in self.providers if p.address == pid), None)
            holding = None if provider is None else provider.holdings.get(sid)
            for index, plain in acquired.plaintexts.items():
                if holding is not None and holding.plaintexts[index] == plain:
                    holdings.add((sid, self.name_of[pid], index))
        return holdings

    def observables(self) -> tuple[Observables, Observables]:
        """(real, ideal), after `finish`."""
        honest = [n for n in self.names if self.is_honest(n)]
        collector_secrets = {self.collector.review_secret(sid) for sid in self.views()}
        adversary_secrets = self.revealed_review_secrets()
        if not self.is_honest("C"):
            adversary_secrets |= collector_secrets
        real_collector = self.readable(collector_secrets)
        real = Observables(
            {n: self.chain.balance(self.address[n]) for n in honest},
            {sid: classify(view, self.name_of) for sid, view in self.views().items()},
            frozenset(real_collector),
            frozenset(self.readable(adversary_secrets)),
            frozenset(self.collector_holdings()),
        )
        ideal_leaks = {(sid, self.name_of[pid], i) for sid, pid, i in self.ideal.leaks}
        ideal = Observables(
            {n: self.ideal.balances[self.address[n]] for n in honest},
            {
                sid: (s.outcome, self.name_of.get(s.candidate), self.name_of.get(s.optimal))
                for sid, s in self.ideal.settlements.items()
            },
            frozenset(ideal_leaks),
            frozenset(ideal_leaks if not self.is_honest("C") else ()),
        )
        return real, ideal


def classify(view, name_of: dict) -> tuple:
    """The real session's outcome, from its final events."""
    if view.phase == CLOSED:
        outcome = CLAIM_REJECTED if view.claim_rejected else DEAL_CLOSED
    elif view.phase == PENDING:
        outcome = NO_DEAL
    elif view.phase == REVIEWED:
        outcome = OPTIMAL_FORFEITED
    elif view.review_rejected:
        outcome = REVIEW_REJECTED
    else:
        outcome = ABORTED_AFTER_REVIEW if view.review_submitted else CANDIDATE_FORFEITED
    return (outcome, name_of.get(view.candidate), name_of.get(view.optimal))


def build_adversary_call(world: World, party: Party, ins: dict):
    """(value, interface, args) of a corrupted party's call, or None when it cannot
    be formed (a provider with no data of its own to reveal). The variants are
    VARIANTS'; a variant that means nothing for an interface is read as "honest"."""
    sid, interface, variant = ins["sid"], ins["interface"], ins["variant"]
    wrong = variant == "wrong"
    view = party.sessions.get(sid)
    target = world.address[f"P{ins['target'] % len(world.providers)}"]
    point = world.junk_point
    if interface == "create_session":
        return _build_create_session(world, ins, _junk(ins))
    if view is None:  # a session it has not seen (or that does not exist): probe it
        junk = _junk(ins)
        return (
            0,
            interface,
            {
                "registration": (sid, junk, 4, junk),
                "sample_data": (sid, target, [0]),
                "submit_features": (sid, junk),
                "set_candidate": (sid, target, point),
                "submit_review": (sid, [0], [junk], [junk], [[]], point, [junk]),
                "dispute_review": (sid, 1, point, [junk], [junk], 0),
                "set_optimal": (sid, target),
                "claim_reward": (sid, point, junk),
                "dispute_claim": (sid, 1, point, junk, 0, junk, junk, []),
                "claim_deposit": (sid,),
                "claim_refund": (sid,),
            }[interface],
        )
    config = view.config
    if interface == "registration":
        return _build_registration(world, party, ins, view, _junk(ins))
    if interface == "sample_data":
        size = compute_sample_size(config["cf_shards"], config["cf_pct_bps"])
        is_collector = isinstance(party, world.parties_module.Collector)
        indices = party.sample_indices(sid, target) if is_collector else list(range(size))
        if wrong:  # too many, none, not ascending, or out of range
            indices = [
                list(range(min(config["cf_shards"], size + 1))),
                [],
                indices[::-1] if len(indices) > 1 else [0, 0],
                indices[:-1] + [config["cf_shards"]],
            ][ins["target"] % 4]
        return 0, interface, (sid, target, indices)
    if interface == "set_candidate":
        key = compute_public_key(_review_secret_of(world, party, sid))
        return 0, interface, (sid, target, key[:-1] if wrong else key)
    if interface == "set_optimal":  # "other": the session's candidate, whatever its review
        promoted = view.candidate if ins["variant"] == "other" and view.candidate else target
        return 0, interface, (sid, promoted)
    if interface in ("claim_deposit", "claim_refund"):
        return 0, interface, (sid,)
    if interface in ("dispute_review", "dispute_claim"):
        return _build_dispute(world, party, ins, view, target)
    # The provider's data-bearing calls need its own holding and sample
    holding = getattr(party, "holdings", {}).get(sid)
    sample = view.samples.get(party.address)
    if interface == "submit_features":
        return _build_features(world, party, ins, view, holding, sample)
    if holding is None or sample is None or view.review_key is None:
        return None  # no data of its own to reveal, or no key to seal it to
    if interface == "submit_review":
        args = list(party.build_review(sid))
        if wrong and ins["target"] % 2:  # a leaf that does not open the root
            args[3] = [_junk(ins)] + args[3][1:]
        elif wrong:  # one sealed key that is not the committed one
            args[6] = [_junk(ins)] + args[6][1:]
        return 0, interface, tuple(args)
    # claim_reward: the master key, or another key sealed in its place
    if not wrong:
        return 0, interface, party.build_claim(sid)
    junk = _junk(ins)
    ephemeral, sealed = seal_master_key(view.review_key, junk, sid, draw_ephemeral(junk))
    return 0, interface, (sid, ephemeral, sealed)


def seals_committed_keys(party: Party, ins: dict) -> bool:
    """Whether a review or a claim that `build_adversary_call` forms for `ins` seals the
    committed keys, as the simulator must be told: the party's own shard keys (every
    variant but "wrong" seals them; a party with no holding seals junk), each hashing
    to what its registration committed (a miscommitted hash is a lie the keys expose)."""
    holding = getattr(party, "holdings", {}).get(ins["sid"])
    view = party.sessions.get(ins["sid"])
    if ins["variant"] == "wrong" or holding is None or view is None:
        return False
    if ins["interface"] == "submit_review":
        shards = view.samples.get(party.address, [])
    else:
        shards = range(len(holding.shard_keys))
    return all(compute_key_hash(holding.shard_keys[i]) == holding.key_hashes[i] for i in shards)


def _junk(ins: dict) -> bytes:
    """A 32-byte word no honest party uses, fixed by the instruction."""
    return keccak256(b"junk" + repr(ins).encode())


def _build_registration(world: World, party: Party, ins: dict, view, junk: bytes):
    """A commitment of the party's own (a provider's holding; "withhold": its shards
    not stored), or, for a party with no data, junk; "wrong" breaks one rule."""
    sid, n = ins["sid"], view.config["cf_shards"]
    root, manifest = junk, keccak256(junk)
    if isinstance(party, world.parties_module.Provider):
        if sid not in party.joins:
            party.joins[sid] = make_dataset(world.name_of[party.address], sid, 5, n)
        if sid not in party.holdings:
            stored = set() if ins["variant"] == "withhold" else None
            party.holdings[sid] = world.parties_module.prepare_holding(
                world.datastore, party.joins[sid], party._derive(b"master", sid), stored
            )
            if ins["variant"] == "other":
                party.holdings[sid] = _miscommit(world, sid, party, ins["target"])
        holding = party.holdings[sid]
        world.tell_holding(sid, party, holding)
        root, manifest = holding.root, holding.adr_manifest
    value, breakage = view.config["cf_deposit"], ins["target"] % 4
    if ins["variant"] == "wrong":  # one rule of registration broken
        n += breakage == 0
        root = ZERO_HASH if breakage == 1 else root
        value += breakage == 2
        manifest = ZERO_HASH if breakage == 3 else manifest
    return value, "registration", (sid, root, n, manifest)


def _miscommit(world: World, sid: int, party: Party, target: int):
    """Registration "other": the provider's holding with one shard (target // 2) committed
    wrongly, in a way the contract cannot see at registration. Even target: its
    ciphertext is under another key than the one whose hash is committed (a junk shard:
    no key the provider can reveal opens it). Odd target: its committed key hash is not
    its shard key's (revealing the key shows the lie)."""
    holding = party.holdings[sid]
    index = target // 2 % len(holding.cids)
    other_key = keccak256(b"miscommitted" + holding.master_key + index.to_bytes(4, "big"))
    cids, key_hashes = list(holding.cids), list(holding.key_hashes)
    if target % 2 == 0:
        junk = encrypt_shard(other_key, index, holding.plaintexts[index])
        cids[index] = world.datastore.store(junk)
        world.junk_shards.setdefault((sid, party.address), set()).add(index)
    else:
        key_hashes[index] = compute_key_hash(other_key)
    manifest = world.datastore.store(encode_manifest(cids, key_hashes))
    tampered = replace(holding, cids=cids, key_hashes=key_hashes, adr_manifest=manifest)
    tampered.root = compute_merkle_root(tampered.leaves)
    return tampered


def _build_features(world: World, party: Party, ins: dict, view, holding, sample):
    """Features of its own sample sealed under its own name; "other": of better
    data than it committed; "wrong": junk, or no address."""
    sid = ins["sid"]
    if ins["variant"] == "wrong" and ins["target"] % 2:
        return 0, "submit_features", (sid, ZERO_HASH)
    size = len(sample or [0])
    if ins["variant"] == "wrong":
        features = None
        sealed = keccak256(b"junk features" + repr(ins).encode()) * 2
    else:
        adr_theta = view.config["adr_theta"]
        blob = world.datastore.get(adr_theta) if world.datastore.has(adr_theta) else b"\x00"
        if ins["variant"] == "other" or holding is None or sample is None:
            better = make_dataset("other", sid, 9, size)
            features = extract_features(blob, better)
        else:
            features = extract_features(blob, [holding.plaintexts[i] for i in sample])
        offer_key = world.collector.offer_key
        context = get_features_context(sid, party.address)
        sealed = seal_features(offer_key, features, context, keccak256(b"eph" + repr(ins).encode()))
    adr = world.datastore.store(sealed)
    if features is not None:
        world.simulator.on_adversary_features(sid, party.address, adr, features)
    return 0, "submit_features", (sid, adr)


def _review_secret_of(world: World, party: Party, sid: int) -> int:
    """The review-key secret a corrupted party knows for a session: the collector's
    own, or, for anyone else, one of its own making."""
    if party is world.collector:
        return world.collector.review_secret(sid)
    return derive_secret(b"adversary-review" + party.address.encode() + repr(sid).encode())


def _build_dispute(world: World, party: Party, ins: dict, view, target: str):
    """A dispute as a collector would file it, against the session's review or
    claim ("wrong": with a secret that is not the review key's)."""
    sid = ins["sid"]
    wrong_secret = ins["variant"] == "wrong" and not (
        ins["interface"] == "dispute_claim" and ins["target"] % 2
    )
    secret = _review_secret_of(world, party, sid) + wrong_secret
    if ins["interface"] == "dispute_review":
        review = view.review or {}
        sealed, hashes = list(review.get("sealed_keys", [])), list(review.get("key_hashes", []))
        ephemeral = review.get("ephemeral", world.junk_point)
        position = ins["target"] % max(1, len(sealed))
        return 0, "dispute_review", (sid, secret, ephemeral, sealed, hashes, position)
    claim, pid = view.claim or {}, view.optimal or target
    holding = next(
        (p.holdings.get(sid) for p in world.providers if p.address == pid and sid in p.holdings),
        None,
    )
    n = view.config["cf_shards"]
    index = ins["target"] % n
    if holding is None:
        leaf_args = (index, ZERO_HASH, ZERO_HASH, [])
    elif ins["variant"] == "wrong" and ins["target"] % 2:
        # leaf 0 shown at position n, past the last shard: its proof folds like leaf 0's
        # when n is a power of two, so only the bound on the index refuses it
        leaf_args = (
            n,
            holding.cids[0],
            holding.key_hashes[0],
            compute_merkle_proof(holding.leaves, 0),
        )
    else:
        proof = compute_merkle_proof(holding.leaves, index)
        leaf_args = (index, holding.cids[index], holding.key_hashes[index], proof)
    ephemeral = claim.get("ephemeral", world.junk_point)
    return (
        0,
        "dispute_claim",
        (sid, secret, ephemeral, claim.get("sealed_master", ZERO_HASH), *leaf_args),
    )


# create_session arguments that break one rule of creation, at its boundary
# (field -> value; "eval_s" is the deadline's distance from the head block)
CREATION_BREAKAGES = (
    {"reward": 0},
    {"value": 999},
    {"pct_bps": 0},
    {"pct_bps": BPS + 1},
    {"shards": 0},
    {"shards": MAX_SHARDS + 1},
    {"shards": 3, "pct_bps": 3_333},  # the sample bound rounds down to zero
    {"eval_s": MIN_PERIOD_S},  # mined a second later: a second short of a period
    {"eval_s": MAX_PERIOD_S + 2},
    {"review_s": 0},
    {"review_s": MIN_PERIOD_S - 1},
    {"review_s": MAX_PERIOD_S + 1},
    {"claim_s": MIN_PERIOD_S - 1},
    {"claim_s": MAX_PERIOD_S + 1},
    {"review_s": 1, "claim_s": 1},  # issue 9, attack 2: periods nobody can meet
    {"adr_theta": ZERO_HASH},
)
# ...and valid ones at the boundary
_CREATION_EDGES = (
    {},
    {"reward": 1},
    {"shards": 1, "pct_bps": BPS},
    {"shards": MAX_SHARDS},
    {"review_s": MIN_PERIOD_S, "claim_s": MIN_PERIOD_S},
    {"eval_s": MIN_PERIOD_S + 1},
    {"eval_s": MAX_PERIOD_S + 1},
    {"pct_bps": BPS},
    {"shards": 4, "pct_bps": 2_500},  # the sample bound is exactly one
    {"review_s": MAX_PERIOD_S, "claim_s": MAX_PERIOD_S},
)


def _build_create_session(world: World, ins: dict, adr_theta: bytes):
    """A session any party may open: "honest" at an edge of the rules of
    creation, "wrong" breaking one of them (chosen by the call's target)."""
    table = CREATION_BREAKAGES if ins["variant"] == "wrong" else _CREATION_EDGES
    args = {
        "reward": 1_000,
        "pct_bps": 2_500,
        "shards": 4,
        "eval_s": 400,
        "review_s": PERIOD_S,
        "claim_s": PERIOD_S,
        "adr_theta": adr_theta,
    }
    args.update(table[ins["target"] % len(table)])
    value = args.pop("value", args["reward"])
    return (
        value,
        "create_session",
        (
            args["reward"],
            args["reward"] // 10,
            args["pct_bps"],
            args["shards"],
            world.chain.now + args["eval_s"],
            args["review_s"],
            args["claim_s"],
            args["adr_theta"],
        ),
    )


def check_trace(trace) -> dict:
    """The trace, checked; ValueError with the reason otherwise."""
    if not isinstance(trace, dict) or trace.get("version") != 1:
        raise ValueError('a trace is a JSON object with "version": 1')
    if not isinstance(trace.get("providers"), int) or not 3 <= trace["providers"] <= 16:
        raise ValueError('trace field "providers" must be an integer in [3, 16]')
    if not isinstance(trace.get("steps"), list):
        raise ValueError('trace field "steps" must be a list of instructions')
    for number, step in enumerate(trace["steps"]):
        try:
            validate_instruction(step)
        except ValueError as error:
            raise ValueError(f"step {number}: {error}") from None
    return trace

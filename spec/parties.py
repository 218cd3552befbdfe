"""Prot_COL and Prot_PRI (Figure 3, lines 1-72): the collector and the providers as
reactive objects driven by F_BC and F_DS.

Each party has `on_block(chain, datastore)`, which the environment calls after
every change of the chain. It reads the receipts of the blocks that became final
since its last look (a party acts only on final events: finality depth = the
chain's), handles each event once (the Watching daemons of Figure 3), fires its
timers against the time of the final head, and keeps its own transactions alive:
a transaction of its own that left the mempool without reaching a block (a drop,
or a reorganisation that did not requeue it) is broadcast again, as long as it is
still useful (Figure 4: ClaimReward is re-added after a reorganisation).

Decisions the paper leaves open, taken here:
- Timers. The collector's EndEvaluation fires at the first final block stamped at
  or after cf_evaluation_deadline: every SubmitFeatures that can still succeed is
  in an earlier block, hence already final, and the collector keeps the whole
  cf_review_s window for its SetCandidate. A provider's SessionTimeout fires when
  the session closes or its deadline passes (then ClaimDeposit); the collector's
  ClaimRefund fires when the deadline passes without a close.
- Deadlines are tracked from final events by the policy of `hyperx.spec.contract`
  (pending: cf_evaluation_deadline + cf_review_s; SetCandidate and SubmitReview:
  block time + cf_review_s; SetOptimal: block time + cf_claim_s), computed here,
  not read from the contract.
- Sampling: the collector samples every registered provider once, with the full
  bound cf_shards * CF_% (more shards, a better estimate), drawn from a seeded
  stream per (session, provider) so runs replay.
- Selection: the best score at or above the task's threshold; ties go to the
  lowest address. No provider qualifies: no candidate, and the session expires.
- Review: the collector opens K_data, fetches and decrypts the sampled shards and
  recomputes the features; anything short of an exact match aborts (no
  SetOptimal), and the contract's compensation applies.
- ClaimReward with more than CHUNK_SIZE shards: chunk c+1 is sent once chunk c is
  final, so a reordering of the mempool cannot make a chunk fail.

Byzantine behaviour: `corrupt()` hands the party to the environment. From then on
it keeps reading the chain but acts only when told (`send`), with any interface
and any arguments; its secrets (`holdings`, the collector's key) are the
adversary's.

The feature extractor is a callable (extractor blob, shard plaintexts) -> features
bytes, the evaluator a callable features -> score; plain callables here, the JAX
assessor plugs in later.
"""

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .chain import Blockchain, Receipt, Transaction
from .config import BPS, CHUNK_SIZE, MAX_SAMPLE
from .contract import Address, Event
from .datastore import Datastore
from .merkle import (
    compute_chunk_proof,
    compute_merkle_proof,
    compute_merkle_root,
    get_chunk_count,
    keccak256,
)
from .sealing import decrypt_shard, encrypt_shard, open_k_data, seal_k_data

Extractor = Callable[[bytes, list[bytes]], bytes]
Evaluator = Callable[[bytes], int]

PENDING, REVIEWING, REVIEWED, CLOSED = "pending", "reviewing", "reviewed", "closed"


def compute_sample_size(cf_shards: int, cf_pct_bps: int) -> int:
    """The sample bound cf_shards * CF_%, as Prot_COL reads SC_config."""
    return min(MAX_SAMPLE, cf_shards * cf_pct_bps // BPS)


def compute_best_provider(scores: Mapping[Address, int], threshold: int) -> Address | None:
    """EndEvaluation's choice: the best score >= threshold; ties to the lowest address."""
    qualified = [(-score, pid) for pid, score in scores.items() if score >= threshold]
    return min(qualified)[1] if qualified else None


@dataclass
class SessionView:
    """What any observer knows of one session from its final events."""

    sid: int
    collector: Address
    config: dict  # the cf_* fields and adr_theta of the CreateSession event
    phase: str = PENDING
    deadline: int = 0
    candidate: Address | None = None
    optimal: Address | None = None
    review_submitted: bool = False
    registered: dict[Address, bytes] = field(default_factory=dict)  # pid -> adr_data_root
    samples: dict[Address, list[int]] = field(default_factory=dict)
    features: dict[Address, bytes] = field(default_factory=dict)  # pid -> adr_feature
    review: dict = field(default_factory=dict)  # the SubmitReview event's args
    chunks_revealed: int = 0
    deposits_claimed: set[Address] = field(default_factory=set)
    refund_claimed: bool = False

    @classmethod
    def from_create(cls, event: Event) -> "SessionView":
        args = event.args
        config = {k: v for k, v in args.items() if k not in ("sid", "collector")}
        deadline = config["cf_evaluation_deadline"] + config["cf_review_s"]
        return cls(args["sid"], args["collector"], config, deadline=deadline)

    def apply(self, event: Event, timestamp: int) -> None:
        args, name = event.args, event.name
        if name == "Registration":
            self.registered[args["pid"]] = args["adr_data_root"]
        elif name == "SampleData":
            self.samples[args["pid"]] = list(args["indices"])
        elif name == "SubmitFeatures":
            self.features[args["pid"]] = args["adr_feature"]
        elif name == "SetCandidate":
            self.phase, self.candidate = REVIEWING, args["pid"]
            self.deadline = timestamp + self.config["cf_review_s"]
        elif name == "SubmitReview":
            self.review_submitted, self.review = True, dict(args)
            self.deadline = timestamp + self.config["cf_review_s"]
        elif name == "SetOptimal":
            self.phase, self.optimal = REVIEWED, args["pid"]
            self.deadline = timestamp + self.config["cf_claim_s"]
        elif name == "ClaimReward":
            self.chunks_revealed += 1
            if self.chunks_revealed == get_chunk_count(self.config["cf_shards"]):
                self.phase = CLOSED
        elif name == "ClaimDeposit":
            self.deposits_claimed.add(args["pid"])
        elif name == "ClaimRefund":
            self.refund_claimed = True

    def is_settled(self, now: int) -> bool:
        return self.phase == CLOSED or now >= self.deadline


@dataclass
class Outgoing:
    """A transaction a party wants included, kept alive until it has a final receipt."""

    name: str
    args: tuple
    value: int
    useful_until: int | None  # chain time after which a re-send is pointless
    tx: Transaction


class Party:
    """What both roles share: final-event intake, timers, and re-sending."""

    def __init__(self, address: Address):
        self.address = address
        self.corrupted = False
        self.sessions: dict[int, SessionView] = {}
        self.final_seen = 0  # highest block number whose receipts were handled
        self.outbox: dict[tuple, Outgoing] = {}
        self.sent: set[tuple] = set()  # purposes ever sent: a step is taken once

    def corrupt(self) -> None:
        self.corrupted = True

    def send(
        self,
        chain: Blockchain,
        name: str,
        *args,
        value: int = 0,
        purpose: tuple | None = None,
        useful_until: int | None = None,
    ) -> Transaction:
        tx = chain.submit(self.address, value, name, *args)
        if purpose is not None:
            self.sent.add(purpose)
            self.outbox[purpose] = Outgoing(name, args, value, useful_until, tx)
        return tx

    def on_block(self, chain: Blockchain, datastore: Datastore) -> None:
        final = chain.final_height
        for number in range(self.final_seen + 1, final + 1):
            block = chain.blocks[number]
            for receipt in block.receipts:
                self._settle(receipt)
                for event in receipt.events if receipt.success else ():
                    if event.name == "CreateSession":
                        self.sessions[event.args["sid"]] = SessionView.from_create(event)
                    elif event.args.get("sid") in self.sessions:
                        self.sessions[event.args["sid"]].apply(event, block.timestamp)
                    if not self.corrupted:
                        self.handle(chain, datastore, receipt, event, block.timestamp)
            self.final_seen = number
        if not self.corrupted:
            self.on_timers(chain, datastore, chain.blocks[final].timestamp)
            self._rebroadcast(chain)

    def handle(self, chain, datastore, receipt: Receipt, event: Event, timestamp: int) -> None:
        """One Watching branch of Figure 3."""

    def on_timers(self, chain, datastore, final_time: int) -> None:
        """The Timeout Callbacks of Figure 3."""

    def _settle(self, receipt: Receipt) -> None:
        for purpose, out in list(self.outbox.items()):
            if out.tx.tx_id == receipt.tx.tx_id:
                del self.outbox[purpose]

    def _rebroadcast(self, chain: Blockchain) -> None:
        if not self.outbox:
            return
        alive = {tx.tx_id for tx in chain.mempool}
        alive.update(r.tx.tx_id for b in chain.blocks[self.final_seen + 1 :] for r in b.receipts)
        for out in self.outbox.values():
            if out.tx.tx_id in alive:
                continue
            if out.useful_until is not None and chain.now >= out.useful_until:
                continue
            out.tx = chain.submit(self.address, out.value, out.name, *out.args)


@dataclass
class Holding:
    """A provider's dataset prepared for one session (Figure 3, lines 48-50)."""

    k_data: bytes
    plaintexts: list[bytes]
    keys: list[bytes]  # adr_data^p: the datastore keys of the encrypted shards
    root: bytes  # the Merkle commitment over adr_data^h


def prepare_holding(datastore: Datastore, dataset: list[bytes], k_data: bytes) -> Holding:
    """Encrypt each shard with K_data, store it on F_DS, commit the keys."""
    keys = [datastore.store(encrypt_shard(k_data, i, shard)) for i, shard in enumerate(dataset)]
    return Holding(k_data, list(dataset), keys, compute_merkle_root(keys))


class Provider(Party):
    """Prot_PRI (Figure 3, lines 43-72)."""

    def __init__(
        self,
        address: Address,
        extractor: Extractor,
        public_keys: Mapping[Address, bytes],
        seed: bytes,
        min_period_s: int = 0,
    ):
        super().__init__(address)
        self.extractor = extractor
        # Figure 3, line 47: a session whose periods are shorter than this
        # party's reaction time is not interesting (it could not meet them)
        self.min_period_s = min_period_s
        self.public_keys = public_keys  # the collector's public key, as published
        self.seed = seed
        self.joins: dict[int, list[bytes]] = {}  # sid -> dataset, until registered
        self.holdings: dict[int, Holding] = {}

    def join(self, sid: int, dataset: list[bytes]) -> None:
        """The environment's input: take part in session `sid` with `dataset`."""
        self.joins.setdefault(sid, list(dataset))

    def compute_k_data(self, sid: int) -> bytes:
        """A fresh K_data per session (derived from the party's seed, so runs replay)."""
        return keccak256(b"k_data" + self.seed + sid.to_bytes(8, "big"))

    def ensure_holding(self, datastore: Datastore, sid: int) -> Holding:
        if sid not in self.holdings:
            self.holdings[sid] = prepare_holding(
                datastore, self.joins[sid], self.compute_k_data(sid)
            )
        return self.holdings[sid]

    def compute_features(self, datastore: Datastore, sid: int, indices: list[int]) -> bytes:
        """Figure 3, line 61: the features of exactly the sampled shards."""
        blob = datastore.get(self.sessions[sid].config["adr_theta"])
        holding = self.holdings[sid]
        return self.extractor(blob, [holding.plaintexts[i] for i in indices])

    def build_review(self, sid: int) -> tuple:
        """SubmitReview's arguments: sampled keys, their proofs, K_data sealed."""
        view, holding = self.sessions[sid], self.holdings[sid]
        indices = view.samples[self.address]
        keys = [holding.keys[i] for i in indices]
        proofs = [compute_merkle_proof(holding.keys, i) for i in indices]
        sealed = seal_k_data(
            self.public_keys[view.collector], holding.k_data, keccak256(b"eph" + holding.k_data)
        )
        return (sid, indices, keys, proofs, sealed)

    def build_chunk(self, sid: int, chunk: int) -> tuple:
        keys = self.holdings[sid].keys
        return (
            sid,
            chunk,
            keys[chunk * CHUNK_SIZE : (chunk + 1) * CHUNK_SIZE],
            compute_chunk_proof(keys, chunk),
        )

    def handle(self, chain, datastore, receipt, event, timestamp):
        sid, args = event.args.get("sid"), event.args
        view = self.sessions.get(sid)
        mine = args.get("pid") == self.address and sid in self.holdings
        if event.name == "SampleData" and mine:
            adr_feature = datastore.store(self.compute_features(datastore, sid, args["indices"]))
            self.send(
                chain,
                "submit_features",
                sid,
                adr_feature,
                purpose=("features", sid),
                useful_until=view.config["cf_evaluation_deadline"],
            )
        elif event.name == "SetCandidate" and mine:
            self.send(
                chain,
                "submit_review",
                *self.build_review(sid),
                purpose=("review", sid),
                useful_until=view.deadline,
            )
        elif event.name == "SetOptimal" and mine:
            self.send(
                chain,
                "claim_reward",
                *self.build_chunk(sid, 0),
                purpose=("claim_reward", sid, 0),
                useful_until=view.deadline,
            )
        elif event.name == "ClaimReward" and mine and view.phase != CLOSED:
            chunk = args["chunk_index"] + 1
            self.send(
                chain,
                "claim_reward",
                *self.build_chunk(sid, chunk),
                purpose=("claim_reward", sid, chunk),
                useful_until=view.deadline,
            )

    def on_timers(self, chain, datastore, final_time):
        for sid, dataset in self.joins.items():
            view = self.sessions.get(sid)
            purpose = ("registration", sid)
            if view is None or purpose in self.sent:
                continue
            if final_time >= view.config["cf_evaluation_deadline"] or view.phase != PENDING:
                continue
            # Figure 3, lines 46-47: no extractor on F_DS, or periods too short
            if not datastore.has(view.config["adr_theta"]) or self.min_period_s > min(
                view.config["cf_review_s"], view.config["cf_claim_s"]
            ):
                continue
            holding = self.ensure_holding(datastore, sid)
            self.send(
                chain,
                "registration",
                sid,
                holding.root,
                len(dataset),
                value=view.config["cf_deposit"],
                purpose=purpose,
                useful_until=view.config["cf_evaluation_deadline"],
            )
        # SessionTimeout (lines 69-72): take the deposit back once the session settles
        for sid, view in self.sessions.items():
            purpose = ("claim_deposit", sid)
            if self.address not in view.registered or purpose in self.sent:
                continue
            if view.is_settled(final_time):
                self.send(chain, "claim_deposit", sid, purpose=purpose)


@dataclass
class Task:
    """F_Task: what the collector wants (SC_config, the extractor, the threshold)."""

    cf_reward: int
    cf_deposit: int
    cf_pct_bps: int
    cf_shards: int
    evaluation_s: int  # cf_evaluation_deadline = creation time + evaluation_s
    cf_review_s: int
    cf_claim_s: int
    threshold: int
    extractor_blob: bytes


@dataclass
class Acquired:
    """What the collector obtained from one provider in one session."""

    plaintexts: dict[int, bytes] = field(default_factory=dict)
    verified: bool = True  # every revealed shard fetched and decrypted


class Collector(Party):
    """Prot_COL (Figure 3, lines 1-42), plus ClaimRefund after expiry."""

    def __init__(
        self,
        address: Address,
        private_key: bytes,
        extractor: Extractor,
        evaluator: Evaluator,
        seed: bytes,
    ):
        super().__init__(address)
        self.private_key = private_key
        self.extractor = extractor
        self.evaluator = evaluator
        self.seed = seed
        self.tasks: dict[int, Task] = {}  # sid -> the task it serves
        self.creating: dict[int, Task] = {}  # creation tx id -> task, until final
        self.scores: dict[int, dict[Address, int]] = {}
        self.feature_blobs: dict[int, dict[Address, bytes]] = {}
        self.acquired: dict[tuple[int, Address], Acquired] = {}
        self.k_data: dict[tuple[int, Address], bytes] = {}
        self.review_passed: dict[int, bool] = {}
        self._creations = 0

    def start_session(self, chain: Blockchain, datastore: Datastore, task: Task) -> Transaction:
        """StartSession (lines 3-12): store the extractor, escrow the reward."""
        adr_theta = datastore.store(task.extractor_blob)
        purpose = ("create_session", self._creations)
        self._creations += 1
        tx = self.send(
            chain,
            "create_session",
            task.cf_reward,
            task.cf_deposit,
            task.cf_pct_bps,
            task.cf_shards,
            chain.now + task.evaluation_s,
            task.cf_review_s,
            task.cf_claim_s,
            adr_theta,
            value=task.cf_reward,
            purpose=purpose,
        )
        self.creating[purpose[1]] = task
        return tx

    def sample_indices(self, sid: int, pid: Address) -> list[int]:
        """Fresh randomness per (session, provider), within CF_%."""
        config = self.sessions[sid].config
        rng = random.Random(keccak256(self.seed + sid.to_bytes(8, "big") + pid.encode()))
        size = compute_sample_size(config["cf_shards"], config["cf_pct_bps"])
        return sorted(rng.sample(range(config["cf_shards"]), size))

    def _settle(self, receipt):
        for purpose, out in list(self.outbox.items()):
            if out.tx.tx_id == receipt.tx.tx_id and purpose[0] == "create_session":
                task = self.creating.pop(purpose[1])
                if receipt.success:
                    self.tasks[receipt.return_value] = task
        super()._settle(receipt)

    def handle(self, chain, datastore, receipt, event, timestamp):
        sid, args = event.args.get("sid"), event.args
        if sid not in self.tasks:
            return
        view = self.sessions[sid]
        if event.name == "Registration":
            pid = args["pid"]
            self.send(
                chain,
                "sample_data",
                sid,
                pid,
                self.sample_indices(sid, pid),
                purpose=("sample_data", sid, pid),
                useful_until=view.config["cf_evaluation_deadline"],
            )
        elif event.name == "SubmitFeatures" and datastore.has(args["adr_feature"]):
            blob = datastore.get(args["adr_feature"])
            self.feature_blobs.setdefault(sid, {})[args["pid"]] = blob
            self.scores.setdefault(sid, {})[args["pid"]] = self.evaluator(blob)
        elif event.name == "SubmitReview" and args["pid"] == view.candidate:
            passed = self.review(datastore, sid, args)
            self.review_passed[sid] = passed
            if passed:
                self.send(
                    chain,
                    "set_optimal",
                    sid,
                    args["pid"],
                    purpose=("set_optimal", sid),
                    useful_until=view.deadline,
                )
        elif event.name == "ClaimReward" and args["pid"] == view.optimal:
            self.acquire(
                datastore, sid, args["pid"], args["chunk_index"] * CHUNK_SIZE, args["keys"]
            )

    def acquire(self, datastore, sid, pid, first_index, keys) -> list[bytes] | None:
        """Fetch and decrypt revealed shards; None if any fails."""
        acquired = self.acquired.setdefault((sid, pid), Acquired())
        k_data = self.k_data.get((sid, pid))
        plaintexts = []
        for offset, key in enumerate(keys):
            index = first_index + offset
            plain = None
            if k_data is not None and datastore.has(key):
                plain = decrypt_shard(k_data, index, datastore.get(key))
            if plain is None:
                acquired.verified = False
                return None
            acquired.plaintexts[index] = plain
            plaintexts.append(plain)
        return plaintexts

    def review(self, datastore, sid, args) -> bool:
        """Lines 28-34: open K_data, decrypt the sample, recompute the features."""
        pid = args["pid"]
        k_data = open_k_data(self.private_key, args["k_data_sealed"])
        if k_data is None:
            return False
        self.k_data[(sid, pid)] = k_data
        view = self.sessions[sid]
        if list(args["indices"]) != view.samples.get(pid):
            return False
        # The sample's positions are not contiguous: decrypt shard by shard
        plaintexts = []
        for index, key in zip(args["indices"], args["keys"], strict=True):
            plain = self.acquire(datastore, sid, pid, index, [key])
            if plain is None:
                return False
            plaintexts += plain
        blob = datastore.get(view.config["adr_theta"])
        return self.extractor(blob, plaintexts) == self.feature_blobs.get(sid, {}).get(pid)

    def on_timers(self, chain, datastore, final_time):
        for sid in self.tasks:
            view = self.sessions[sid]
            purpose = ("set_candidate", sid)
            # EndEvaluation (lines 38-42)
            if (
                purpose not in self.sent
                and view.phase == PENDING
                and view.config["cf_evaluation_deadline"] <= final_time < view.deadline
            ):
                best = compute_best_provider(self.scores.get(sid, {}), self.tasks[sid].threshold)
                self.sent.add(purpose)
                if best is not None:
                    self.send(
                        chain,
                        "set_candidate",
                        sid,
                        best,
                        purpose=purpose,
                        useful_until=view.deadline,
                    )
            # The collector's side of expiry
            purpose = ("claim_refund", sid)
            if purpose not in self.sent and view.phase != CLOSED and final_time >= view.deadline:
                self.send(chain, "claim_refund", sid, purpose=purpose)

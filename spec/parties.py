"""Prot_COL and Prot_PRI (Figure 3, lines 1-72): the collector and the providers as
reactive objects driven by F_BC and F_DS.

Each party has `on_block(chain, datastore)`, which the environment calls after
every change of the chain. It reads the receipts of the blocks that became final
since its last look (a party acts only on final events: finality depth = the
chain's), handles each event once (the Watching daemons of Figure 3), fires its
timers against the time of the final head, and keeps its own transactions alive:
a transaction of its own that left the mempool without reaching a block (a drop,
or a reorganisation that did not requeue it) is broadcast again, as long as it is
still useful (Figure 4: ClaimReward is re-added after a reorganisation). A call that
could no longer be mined before the end of its window (by the head's time: the next
block is stamped at least a second later) is never broadcast, first time or again:
it would only burn gas.

Decisions the paper leaves open, taken here:
- Timers. The collector's EndEvaluation fires at the first final block stamped at
  or after cf_evaluation_deadline: every SubmitFeatures that can still succeed is
  in an earlier block, hence already final, and the collector keeps the whole
  cf_review_s window for its SetCandidate. A provider's SessionTimeout fires when
  the session is settled (then ClaimDeposit, which pays P_opt its reward too); the
  collector's ClaimRefund fires when the session settles without a deal.
- Deadlines are tracked from final events by the policy of `hyperx.spec.contract`
  (pending: cf_evaluation_deadline + cf_review_s; SetCandidate, SubmitReview and
  ClaimReward: block time + cf_review_s; SetOptimal: block time + cf_claim_s; a
  dispute: block time), computed here, not read from the contract.
- Sampling: the collector samples every registered provider once, with the full
  bound cf_shards * CF_% (more shards, a better estimate), drawn from a seeded
  stream per (session, provider) so runs replay.
- Selection: the best score at or above the task's threshold, ties to the lowest
  address, among providers whose features open under their own context and whose
  every shard the collector fetched and checked against the root (the manifest on
  F_DS). Nobody qualifies: no candidate, and the session expires.
- Review: the collector opens each sampled key; one that does not hash to its
  leaf is disputed on chain. Then it decrypts the sample and recomputes the
  features; anything short of an exact match aborts (no SetOptimal), and the
  contract's compensation applies (the residual of `hyperx.spec.contract`).
- Claim: the collector opens the master key and derives every shard key; a shard
  key that does not hash to its leaf is disputed on chain.

Byzantine behaviour: `corrupt()` hands the party to the environment. From then on
it keeps reading the chain but acts only when told (`send`), with any interface
and any arguments; its secrets (`holdings`, the collector's keys) are the
adversary's.

The feature extractor is a callable (extractor blob, shard plaintexts) -> features
bytes, the evaluator a callable features -> score; plain callables here, the JAX
assessor plugs in later.
"""

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from . import secp256k1
from .chain import Blockchain, Receipt, Transaction
from .config import BPS, MASTER_KEY_SLOT, MAX_SAMPLE
from .contract import Address, Event
from .datastore import Datastore, compute_datastore_key
from .merkle import compute_leaf, compute_merkle_proof, compute_merkle_root, keccak256
from .sealing import (
    compute_key_hash,
    compute_shard_key,
    decrypt_shard,
    derive_offer_keypair,
    draw_ephemeral,
    encrypt_shard,
    get_features_context,
    open_features,
    open_sealed_key,
    seal_features,
    seal_keys,
    seal_master_key,
)

Extractor = Callable[[bytes, list[bytes]], bytes]
Evaluator = Callable[[bytes], int]

PENDING, REVIEWING, REVIEWED, CLOSED = "pending", "reviewing", "reviewed", "closed"


def compute_sample_size(cf_shards: int, cf_pct_bps: int) -> int:
    """The sample bound cf_shards * CF_%, as Prot_COL reads SC_config."""
    return min(MAX_SAMPLE, cf_shards * cf_pct_bps // BPS)


def compute_ranking(scores: Mapping[Address, int], threshold: int) -> list[Address]:
    """EndEvaluation's order: scores >= threshold, best first, ties to the lowest address."""
    return [pid for score, pid in sorted((-s, p) for p, s in scores.items() if s >= threshold)]


def find_wrong_shard_key(master_key: bytes | None, key_hashes: list[bytes]) -> int | None:
    """The first shard whose key, derived from the master key (None: its seal did not
    open), does not hash to its committed hash: what `dispute_claim` shows. None when
    every derived key matches its commitment."""
    for index, key_hash in enumerate(key_hashes):
        if master_key is None or compute_key_hash(compute_shard_key(master_key, index)) != key_hash:
            return index
    return None


def get_dispute_claim_args(
    sid: int, secret: int, claim: Mapping, manifest: list[tuple[bytes, bytes]], index: int
) -> tuple:
    """dispute_claim's arguments: the review key's secret, the seal the ClaimReward event
    delivered (`claim`: its ephemeral key and sealed master key), and shard `index`'s
    leaf (content address, committed key hash) with its Merkle proof."""
    leaves = [compute_leaf(cid, key_hash) for cid, key_hash in manifest]
    return (
        sid,
        secret,
        claim["ephemeral"],
        claim["sealed_master"],
        index,
        *manifest[index],
        compute_merkle_proof(leaves, index),
    )


def encode_manifest(cids: list[bytes], key_hashes: list[bytes]) -> bytes:
    """A provider's manifest on F_DS: every shard's content address and key hash."""
    return b"".join(cid + key_hash for cid, key_hash in zip(cids, key_hashes, strict=True))


def decode_manifest(blob: bytes) -> list[tuple[bytes, bytes]] | None:
    if len(blob) % 64:
        return None
    return [(blob[i : i + 32], blob[i + 32 : i + 64]) for i in range(0, len(blob), 64)]


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
    review_key: bytes | None = None  # the 64-byte key named by SetCandidate
    review_submitted: bool = False
    review_rejected: bool = False
    claim_rejected: bool = False
    registered: dict[Address, bytes] = field(default_factory=dict)  # pid -> adr_data_root
    manifests: dict[Address, bytes] = field(default_factory=dict)  # pid -> adr_manifest
    samples: dict[Address, list[int]] = field(default_factory=dict)
    features: dict[Address, bytes] = field(default_factory=dict)  # pid -> adr_feature
    review: dict = field(default_factory=dict)  # the SubmitReview event's args
    claim: dict = field(default_factory=dict)  # the ClaimReward event's args
    deposits_claimed: set[Address] = field(default_factory=set)
    refund_claimed: bool = False

    @classmethod
    def from_create(cls, event: Event) -> "SessionView":
        args = event.args
        config = {k: v for k, v in args.items() if k not in ("sid", "collector")}
        deadline = config["cf_evaluation_deadline"] + config["cf_review_s"]
        return cls(args["sid"], args["collector"], config, deadline=deadline)

    def apply(self, event: Event, timestamp: int) -> None:
        args, name, review_s = event.args, event.name, self.config["cf_review_s"]
        if name == "Registration":
            self.registered[args["pid"]] = args["adr_data_root"]
            self.manifests[args["pid"]] = args["adr_manifest"]
        elif name == "SampleData":
            self.samples[args["pid"]] = list(args["indices"])
        elif name == "SubmitFeatures":
            self.features[args["pid"]] = args["adr_feature"]
        elif name == "SetCandidate":
            self.phase, self.candidate = REVIEWING, args["pid"]
            self.review_key, self.deadline = args["review_key"], timestamp + review_s
        elif name == "SubmitReview":
            self.review_submitted, self.review = True, dict(args)
            self.deadline = timestamp + review_s
        elif name == "DisputeReview":
            self.review_rejected, self.deadline = True, timestamp
        elif name == "SetOptimal":
            self.phase, self.optimal = REVIEWED, args["pid"]
            self.deadline = timestamp + self.config["cf_claim_s"]
        elif name == "ClaimReward":
            self.phase, self.claim = CLOSED, dict(args)
            self.deadline = timestamp + review_s
        elif name == "DisputeClaim":
            self.claim_rejected, self.deadline = True, timestamp
        elif name == "ClaimDeposit":
            self.deposits_claimed.add(args["pid"])
        elif name == "ClaimRefund":
            self.refund_claimed = True

    def is_settled(self, now: int) -> bool:
        return now >= self.deadline

    def is_deal(self) -> bool:
        return self.phase == CLOSED and not self.claim_rejected


def can_land(chain: Blockchain, until: int | None) -> bool:
    """Could a transaction broadcast now still be mined before `until`? The next block
    is stamped at least a second after the head's."""
    return until is None or chain.now + 1 < until


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
    ) -> Transaction | None:
        """Broadcast a call, once per `purpose`, kept alive until it has a final receipt;
        a call that could no longer be mined before `useful_until` is not sent at all."""
        if purpose is not None:
            self.sent.add(purpose)
        if not can_land(chain, useful_until):
            return None
        tx = chain.submit(self.address, value, name, *args)
        if purpose is not None:
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
            if out.tx.tx_id in alive or not can_land(chain, out.useful_until):
                continue
            out.tx = chain.submit(self.address, out.value, out.name, *out.args)


@dataclass
class Holding:
    """A provider's dataset prepared for one session (Figure 3, lines 48-50)."""

    master_key: bytes  # K: every shard key derives from it
    plaintexts: list[bytes]
    shard_keys: list[bytes]
    cids: list[bytes]  # adr_data^p: the datastore keys of the encrypted shards
    key_hashes: list[bytes]
    root: bytes  # the Merkle commitment over (cid_i, h_i)
    adr_manifest: bytes

    @property
    def leaves(self) -> list[bytes]:
        return [compute_leaf(c, h) for c, h in zip(self.cids, self.key_hashes, strict=True)]


def prepare_holding(
    datastore: Datastore, dataset: list[bytes], master_key: bytes, stored: set[int] | None = None
) -> Holding:
    """Encrypt shard i under k_i = H(K, i), store it on F_DS, publish the manifest,
    commit the root. `stored`: the shards actually stored (a withholding provider
    stores fewer; an honest one, all)."""
    shard_keys = [compute_shard_key(master_key, i) for i in range(len(dataset))]
    ciphertexts = [
        encrypt_shard(k, i, shard)
        for i, (k, shard) in enumerate(zip(shard_keys, dataset, strict=True))
    ]
    cids = [
        datastore.store(c) if stored is None or i in stored else compute_datastore_key(c)
        for i, c in enumerate(ciphertexts)
    ]
    key_hashes = [compute_key_hash(k) for k in shard_keys]
    adr_manifest = datastore.store(encode_manifest(cids, key_hashes))
    holding = Holding(master_key, list(dataset), shard_keys, cids, key_hashes, b"", adr_manifest)
    holding.root = compute_merkle_root(holding.leaves)
    return holding


class Provider(Party):
    """Prot_PRI (Figure 3, lines 43-72)."""

    def __init__(
        self,
        address: Address,
        extractor: Extractor,
        offer_keys: Mapping[Address, bytes],
        seed: bytes,
        min_period_s: int = 0,
    ):
        super().__init__(address)
        self.extractor = extractor
        # Figure 3, line 47: a session whose periods are shorter than this
        # party's reaction time is not interesting (it could not meet them)
        self.min_period_s = min_period_s
        self.offer_keys = offer_keys  # each collector's offer key, as published
        self.seed = seed
        self.joins: dict[int, list[bytes]] = {}  # sid -> dataset, until registered
        self.holdings: dict[int, Holding] = {}
        self.submitted_features: dict[int, tuple[bytes, bytes]] = {}  # sid -> (adr, features)

    def join(self, sid: int, dataset: list[bytes]) -> None:
        """The environment's input: take part in session `sid` with `dataset`."""
        self.joins.setdefault(sid, list(dataset))

    def _derive(self, label: bytes, sid: int) -> bytes:
        """A fresh secret per session and use (seeded, so runs replay)."""
        return keccak256(label + self.seed + sid.to_bytes(8, "big"))

    def ensure_holding(self, datastore: Datastore, sid: int) -> Holding:
        if sid not in self.holdings:
            self.holdings[sid] = prepare_holding(
                datastore, self.joins[sid], self._derive(b"master", sid)
            )
        return self.holdings[sid]

    def compute_features(
        self, datastore: Datastore, sid: int, indices: list[int]
    ) -> tuple[bytes, bytes]:
        """Figure 3, line 61: the features of exactly the sampled shards, and the same
        sealed to the collector, bound to this session and this provider."""
        view = self.sessions[sid]
        blob = datastore.get(view.config["adr_theta"])
        holding = self.holdings[sid]
        features = self.extractor(blob, [holding.plaintexts[i] for i in indices])
        sealed = seal_features(
            self.offer_keys[view.collector],
            features,
            get_features_context(sid, self.address),
            self._derive(b"features", sid),
        )
        return features, sealed

    def build_review(self, sid: int) -> tuple:
        """SubmitReview's arguments: the sampled leaves, their proofs, and the sampled
        shard keys sealed to the review key (slot = position in the sample)."""
        view, holding = self.sessions[sid], self.holdings[sid]
        indices = view.samples[self.address]
        leaves = holding.leaves
        ephemeral, sealed = seal_keys(
            view.review_key,
            [holding.shard_keys[i] for i in indices],
            sid,
            list(range(len(indices))),
            draw_ephemeral(self._derive(b"review", sid)),
        )
        return (
            sid,
            indices,
            [holding.cids[i] for i in indices],
            [holding.key_hashes[i] for i in indices],
            [compute_merkle_proof(leaves, i) for i in indices],
            ephemeral,
            sealed,
        )

    def build_claim(self, sid: int) -> tuple:
        """ClaimReward's arguments: the master key sealed to the review key."""
        ephemeral, sealed = seal_master_key(
            self.sessions[sid].review_key,
            self.holdings[sid].master_key,
            sid,
            draw_ephemeral(self._derive(b"claim", sid)),
        )
        return (sid, ephemeral, sealed)

    def is_interesting(self, datastore: Datastore, view: SessionView) -> bool:
        """Figure 3, lines 46-47: the offer is on F_DS and the periods are long enough."""
        periods = (view.config["cf_review_s"], view.config["cf_claim_s"])
        return (
            datastore.has(view.config["adr_theta"])
            and view.collector in self.offer_keys
            and self.min_period_s <= min(periods)
        )

    def handle(self, chain, datastore, receipt, event, timestamp):
        sid, args = event.args.get("sid"), event.args
        view = self.sessions.get(sid)
        mine = args.get("pid") == self.address and sid in self.holdings
        if event.name == "SampleData" and mine:
            features, sealed = self.compute_features(datastore, sid, args["indices"])
            adr_feature = datastore.store(sealed)
            self.submitted_features[sid] = (adr_feature, features)
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
                *self.build_claim(sid),
                purpose=("claim_reward", sid),
                useful_until=view.deadline,
            )

    def on_timers(self, chain, datastore, final_time):
        for sid, dataset in self.joins.items():
            view = self.sessions.get(sid)
            purpose = ("registration", sid)
            if view is None or purpose in self.sent or view.phase != PENDING:
                continue
            if not self.is_interesting(datastore, view):
                continue
            holding = self.ensure_holding(datastore, sid)
            self.send(
                chain,
                "registration",
                sid,
                holding.root,
                len(dataset),
                holding.adr_manifest,
                value=view.config["cf_deposit"],
                purpose=purpose,
                useful_until=view.config["cf_evaluation_deadline"],
            )
        # SessionTimeout (lines 69-72): take the deposit (and any reward) once settled
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

    ciphertexts: dict[int, bytes] = field(default_factory=dict)  # fetched before promoting
    plaintexts: dict[int, bytes] = field(default_factory=dict)
    verified: bool = True  # every revealed shard decrypted


class Collector(Party):
    """Prot_COL (Figure 3, lines 1-42), plus the disputes and ClaimRefund."""

    def __init__(
        self,
        address: Address,
        extractor: Extractor,
        evaluator: Evaluator,
        seed: bytes,
    ):
        super().__init__(address)
        self.extractor = extractor
        self.evaluator = evaluator
        self.seed = seed
        self.offer_private, self.offer_key = derive_offer_keypair(b"offer" + seed)
        self.tasks: dict[int, Task] = {}  # sid -> the task it serves
        self.creating: dict[int, Task] = {}  # creation purpose number -> task, until final
        self.scores: dict[int, dict[Address, int]] = {}
        self.features: dict[int, dict[Address, bytes]] = {}  # opened features
        self.acquired: dict[tuple[int, Address], Acquired] = {}
        self._creations = 0

    def review_secret(self, sid: int) -> int:
        """The secret of the session's review key (fresh per session)."""
        return secp256k1.derive_secret(b"review" + self.seed + sid.to_bytes(8, "big"))

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
            pid = args["pid"]
            features = open_features(
                self.offer_private,
                datastore.get(args["adr_feature"]),
                get_features_context(sid, pid),
            )
            if features is not None:
                self.features.setdefault(sid, {})[pid] = features
                self.scores.setdefault(sid, {})[pid] = self.evaluator(features)
        elif event.name == "SubmitReview" and args["pid"] == view.candidate:
            self.answer_review(chain, datastore, view, args)
        elif event.name == "ClaimReward" and args["pid"] == view.optimal:
            self.answer_claim(chain, datastore, view, args)

    # Selection

    def fetch_dataset(self, datastore: Datastore, view: SessionView, pid: Address) -> bool:
        """Fetch every encrypted shard of `pid` and check it against its commitment:
        the manifest is on F_DS, lists cf_shards leaves whose root is the registered
        one, and every shard it names is there. The ciphertexts are kept."""
        adr_manifest = view.manifests.get(pid)
        if adr_manifest is None or not datastore.has(adr_manifest):
            return False
        manifest = decode_manifest(datastore.get(adr_manifest))
        if manifest is None or len(manifest) != view.config["cf_shards"]:
            return False
        if compute_merkle_root([compute_leaf(c, h) for c, h in manifest]) != view.registered[pid]:
            return False
        if not all(datastore.has(cid) for cid, _ in manifest):
            return False
        acquired = self.acquired.setdefault((view.sid, pid), Acquired())
        acquired.ciphertexts = {i: datastore.get(cid) for i, (cid, _) in enumerate(manifest)}
        return True

    def end_evaluation(self, chain, datastore, view: SessionView) -> None:
        """EndEvaluation (lines 38-42): the best provider whose dataset is all there."""
        ranking = compute_ranking(self.scores.get(view.sid, {}), self.tasks[view.sid].threshold)
        for pid in ranking:
            if self.fetch_dataset(datastore, view, pid):
                self.send(
                    chain,
                    "set_candidate",
                    view.sid,
                    pid,
                    secp256k1.compute_public_key(self.review_secret(view.sid)),
                    purpose=("set_candidate", view.sid),
                    useful_until=view.deadline,
                )
                return

    # Review and claim

    def answer_review(self, chain, datastore, view: SessionView, args: dict) -> None:
        """Lines 28-34: open the sampled keys (a bad one is disputed), decrypt the
        sample, recompute the features; promote only on an exact match."""
        sid, pid = view.sid, args["pid"]
        secret = self.review_secret(sid)
        # Only a candidate whose every shard it holds is named; a shard it does not
        # hold does not decrypt, whatever the key
        acquired = self.acquired.setdefault((sid, pid), Acquired())
        plaintexts, complete = [], True  # the sample's plaintexts, in order
        for position, index in enumerate(args["indices"]):
            key = open_sealed_key(
                secret, args["ephemeral"], args["sealed_keys"][position], sid, position
            )
            if key is None or compute_key_hash(key) != args["key_hashes"][position]:
                self.send(
                    chain,
                    "dispute_review",
                    sid,
                    secret,
                    args["ephemeral"],
                    list(args["sealed_keys"]),
                    list(args["key_hashes"]),
                    position,
                    purpose=("dispute_review", sid),
                    useful_until=view.deadline,
                )
                return
            plain = decrypt_shard(key, index, acquired.ciphertexts.get(index, b""))
            if plain is None:
                # a junk shard under a good key: nothing on chain shows it (the residual
                # of hyperx.spec.contract); the review then stands unanswered and costs
                # the compensation, so the rest of the sample is kept all the same
                complete = False
                continue
            acquired.plaintexts[index] = plain
            plaintexts.append(plain)
        blob = datastore.get(view.config["adr_theta"])
        features = self.features.get(sid, {}).get(pid)
        if complete and self.extractor(blob, plaintexts) == features:
            self.send(
                chain,
                "set_optimal",
                sid,
                pid,
                purpose=("set_optimal", sid),
                useful_until=view.deadline,
            )

    def answer_claim(self, chain, datastore, view: SessionView, args: dict) -> None:
        """Line 36: open the master key, derive every shard key, check it against the
        manifest (a wrong one is disputed), decrypt the whole dataset."""
        sid, pid = view.sid, args["pid"]
        secret = self.review_secret(sid)
        manifest = decode_manifest(datastore.get(view.manifests[pid]))
        master = open_sealed_key(
            secret, args["ephemeral"], args["sealed_master"], sid, MASTER_KEY_SLOT
        )
        acquired = self.acquired.setdefault((sid, pid), Acquired())
        wrong = find_wrong_shard_key(master, [key_hash for _, key_hash in manifest])
        if wrong is not None:
            self.send(
                chain,
                "dispute_claim",
                *get_dispute_claim_args(sid, secret, args, manifest, wrong),
                purpose=("dispute_claim", sid),
                useful_until=view.deadline,
            )
            acquired.verified = False
            return
        for index in range(len(manifest)):
            key = compute_shard_key(master, index)
            plain = decrypt_shard(key, index, acquired.ciphertexts.get(index, b""))
            if plain is None:
                acquired.verified = False  # well-formed keys, junk shard: not provable
            else:
                acquired.plaintexts[index] = plain

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
                self.sent.add(purpose)
                self.end_evaluation(chain, datastore, view)
            # The collector's side of settlement
            purpose = ("claim_refund", sid)
            if purpose not in self.sent and view.is_settled(final_time) and not view.is_deal():
                self.send(chain, "claim_refund", sid, purpose=purpose)

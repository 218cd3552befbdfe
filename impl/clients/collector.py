"""Prot_COL (paper Figure 3, lines 1-42): the collector as an event-driven client.

The real counterpart of `hyperx.spec.parties.Collector`: the same handlers and
decisions, over web3 (or any `Ledger`), a content-addressed store, AES-GCM and ECIES
and the JAX assessor instead of plain callables.

Its state (SQLite, see `state`): the session's terms, phase and deadline, the review
key's secret (at rest, encrypted), and per provider the commitment, the sample, the
features' address, the score and the verdicts. Handlers:

- `start_session` (lines 3-12): store the obfuscated extractor and the offer on
  F_DS, then create the session with the reward escrowed.
- Registration (17-21): note the provider's root and manifest, and sample it once,
  with fresh randomness, as many shard positions as cf_pct allows.
- SubmitFeatures (22-27): fetch the sealed features and open them with the
  collector's key under this session's and this provider's context; features that
  do not open (another provider's copied, junk) are rejected with the reason and
  never scored. Opened features are queued and scored together, in one compiled
  program of the assessor, at the next turn.
- EndEvaluation (38-42), a timeout at cf_evaluation_deadline: walk the eligible
  providers best first; fetch each one's manifest, check that it lists cf_shards
  leaves whose Merkle root is the registered one, fetch every encrypted shard (the
  store checks each against its CID) and keep them; the first whose dataset is all
  there becomes the candidate, named with a fresh review key. One whose data is not
  all there is passed over; if none is left, the session expires and the reward is
  refunded.
- SubmitReview (28-34): open each sealed sample key with the review secret; one that
  does not hash to its committed key hash is disputed on chain (the candidate
  forfeits its deposit). Otherwise decrypt the sampled shards kept, recompute their
  features and compare them with the submitted ones; SetOptimal if they match, else
  abort (the contract compensates the candidate once the session settles).
- ClaimReward (35-37): open the master key, derive every shard key and check it
  against the manifest; the first that does not hash to its commitment is disputed
  (the optimal provider forfeits its deposit and the reward returns). Otherwise
  decrypt every kept shard and keep the dataset, encrypted at rest. The collector
  stays until the complaint window has passed.
- Settlement: a session settled without a deal is refunded (the reward less any
  compensation, plus a forfeited deposit).
"""

import logging
import secrets
from dataclasses import dataclass, fields

import numpy as np

from hyperx.impl.clients.artifacts import (
    ArtifactError,
    decode_blobs,
    decode_shard,
    encode_blobs,
    encode_offer,
    encode_shard,
    join_shards,
)
from hyperx.impl.clients.daemon import ChainEvent, Party
from hyperx.impl.crypto import (
    CryptoError,
    decrypt_shard,
    features_context,
    new_review_key,
    open_sealed,
    public_key_from_private_key,
    session_binding,
)
from hyperx.impl.datastore.cid import DatastoreError, bytes32_to_cid, cid_to_bytes32
from hyperx.impl.errors import BadInput
from hyperx.impl.quality import pipeline
from hyperx.impl.quality.config import QualityConfig
from hyperx.impl.quality.errors import QualityError
from hyperx.spec import secp256k1
from hyperx.spec.config import MASTER_KEY_SLOT, MIN_PERIOD_S
from hyperx.spec.contract import SessionConfig
from hyperx.spec.merkle import compute_leaf, compute_merkle_root
from hyperx.spec.parties import (
    compute_sample_size,
    decode_manifest,
    find_wrong_shard_key,
    get_dispute_claim_args,
)
from hyperx.spec.sealing import compute_key_hash, compute_shard_key, open_sealed_key

CONFIG_FIELDS = [f.name for f in fields(SessionConfig) if f.name != "adr_theta"]


def dataset_file(sid: int) -> str:
    """The bought dataset, beside the collector's state: an .npz of x and y (as a shard
    is), encrypted at rest; `hyperx collector export` writes it out in clear."""
    return f"dataset-session-{sid}.npz.sealed"


def join_or_empty(shards: list) -> tuple[np.ndarray, np.ndarray]:
    """The shards' entries as one (x, y), or an empty pair when none decrypted."""
    return join_shards(shards) if shards else (np.zeros((0, 0, 0)), np.zeros(0))


def sample_file(sid: int, pid: str) -> str:
    """A candidate's sampled shards, kept when its review stood unanswered."""
    return f"sample-session-{sid}-{pid}.npz.sealed"


def acquired_file(sid: int, pid: str) -> str:
    """A candidate's manifest and every encrypted shard, fetched before it was named."""
    return f"acquired-session-{sid}-{pid}.sealed"


# How long after the collector decides to create a session the creation may land:
# cf_evaluation_deadline must still be MIN_PERIOD_S ahead of the block that holds it.
INCLUSION_ROOM_S = 60


@dataclass(frozen=True)
class Terms:
    """SC_config as the collector chooses it; periods in seconds from creation."""

    cf_reward: int  # wei
    cf_deposit: int  # wei
    cf_pct_bps: int
    cf_shards: int
    evaluation_s: int  # cf_evaluation_deadline = creation time + evaluation_s
    cf_review_s: int
    cf_claim_s: int

    def check(self) -> None:
        """BadInput if the market would refuse the periods (checked before anything is sent)."""
        least = MIN_PERIOD_S + INCLUSION_ROOM_S
        if self.evaluation_s < least:
            raise BadInput(
                f"--evaluation-s must be at least {least}: the market's {MIN_PERIOD_S} s"
                f" minimum and {INCLUSION_ROOM_S} s for the creation to be mined, got"
                f" {self.evaluation_s}"
            )
        for option, seconds in (("--review-s", self.cf_review_s), ("--claim-s", self.cf_claim_s)):
            if seconds < MIN_PERIOD_S:
                raise BadInput(
                    f"{option} must be at least the market's minimum period of"
                    f" {MIN_PERIOD_S} s, got {seconds}"
                )


@dataclass(frozen=True)
class Assessor:
    """The collector's side of the quality assessor: M_init, its published extractor
    and the obfuscation secret, and the validation set it scores with."""

    config: QualityConfig
    m_init: bytes
    extractor: bytes
    secret: bytes
    validation: tuple[np.ndarray, np.ndarray]


class CollectorClient(Party):
    role = "collector"

    def __init__(
        self,
        chain,
        account,
        state,
        store,
        assessor: Assessor,
        *,
        confirmations=0,
        finality=None,
        abort_after_review=False,
    ):
        super().__init__(chain, account, state, confirmations, finality=finality)
        self.store = store
        self.assessor = assessor
        self.abort_after_review = abort_after_review  # fault tests: walk away after a good review

    def session(self) -> int | None:
        return self.state.get("collector", "sid")

    def facts(self) -> dict:
        return self.state.scope("session")

    def providers(self) -> dict[str, dict]:
        """Per registered provider: commitment, sample, features, score, verdicts."""
        return {
            pid: self.state.scope(f"provider:{pid}")
            for pid in self.state.get("session", "providers", [])
        }

    def _put(self, **facts) -> None:
        for name, value in facts.items():
            self.state.put("session", name, value)

    def _put_provider(self, pid: str, **facts) -> None:
        for name, value in facts.items():
            self.state.put(f"provider:{pid}", name, value)

    def _is_ours(self, event: ChainEvent) -> bool:
        return self.session() is not None and event.args["sid"] == self.session()

    # StartSession (lines 3-12)

    def start_session(self, terms: Terms) -> None:
        """Publish the extractor and the offer, and decide to create the session (once)."""
        if self.state.get("collector", "offer") is not None:
            return
        terms.check()
        extractor_cid = self.store.put(self.assessor.extractor)
        offer_cid = self.store.put(
            encode_offer(extractor_cid, public_key_from_private_key(self.account.private_key))
        )
        now = self.chain.timestamp(self.chain.head())
        with self.state.transaction():
            self.state.put("collector", "offer", cid_to_bytes32(offer_cid))
            self.state.put("collector", "extractor_cid", extractor_cid)
            self.intend(
                "create_session",
                "create_session",
                terms.cf_reward,
                terms.cf_deposit,
                terms.cf_pct_bps,
                terms.cf_shards,
                now + terms.evaluation_s,
                terms.cf_review_s,
                terms.cf_claim_s,
                cid_to_bytes32(offer_cid),
                value=terms.cf_reward,
            )

    def is_done_already(self, intent) -> bool:
        # A second create_session would open a second session: it landed if the chain
        # shows ours, handled or not yet.
        return intent.interface == "create_session" and (
            self.session() is not None
            or bool(
                self.find_events(
                    "CreateSession",
                    collector=self.address,
                    adr_theta=self.state.get("collector", "offer"),
                )
            )
        )

    def on_CreateSession(self, event: ChainEvent) -> None:
        args = event.args
        if (
            self.session() is not None
            or args["collector"].lower() != self.address
            or args["adr_theta"] != self.state.get("collector", "offer")
        ):
            return
        self.state.put("collector", "sid", args["sid"])
        self._put(
            **{name: args[name] for name in CONFIG_FIELDS},
            binding=session_binding(self.chain.chain_id, self.chain.contract_address, args["sid"]),
            phase="pending",
            deadline=args["cf_evaluation_deadline"] + args["cf_review_s"],
            providers=[],
            candidate=None,
            optimal=None,
            decided=False,
            claim_rejected=False,
        )

    # Evaluation (lines 17-27)

    def on_Registration(self, event: ChainEvent) -> None:
        if not self._is_ours(event):
            return
        facts, pid = self.facts(), event.args["pid"].lower()
        bound = compute_sample_size(facts["cf_shards"], facts["cf_pct_bps"])
        indices = sorted(secrets.SystemRandom().sample(range(facts["cf_shards"]), bound))
        self._put(providers=[*facts["providers"], pid])
        self._put_provider(
            pid,
            root=event.args["adr_data_root"],
            adr_manifest=event.args["adr_manifest"],
            indices=indices,
            status="sampled",
        )
        self.intend(f"sample_data:{pid}", "sample_data", event.args["sid"], pid, indices)

    def on_SubmitFeatures(self, event: ChainEvent) -> None:
        if not self._is_ours(event):
            return
        pid, cid = event.args["pid"].lower(), bytes32_to_cid(event.args["adr_feature"])
        self._put_provider(pid, features_cid=cid)
        try:
            features = pipeline.load_features(self.open_features(pid), f"features of {pid} ({cid})")
        except (DatastoreError, CryptoError, QualityError) as error:
            self._put_provider(pid, status="rejected", reason=str(error))
            self._say(logging.WARNING, "rejects the features of %s: %s", pid, error)
            return
        sampled_rows = self.state.get(f"provider:{pid}", "indices")
        self._put_provider(
            pid, rows=len(features.features), sampled_shards=len(sampled_rows), status="features"
        )

    def open_features(self, pid: str) -> bytes:
        """The features `pid` submitted, fetched and opened under this session's and its own
        context; CryptoError for features sealed to another context (a copy) or junk."""
        sealed = self.store.get(self.state.get(f"provider:{pid}", "features_cid"))
        context = features_context(self.facts()["binding"], pid)
        return open_sealed(self.account.private_key, sealed, context)

    def score_queued(self) -> bool:
        """Score every provider whose features arrived since the last turn, in one batch."""
        queued = [
            pid for pid, facts in self.providers().items() if facts.get("status") == "features"
        ]
        if not queued:
            return False
        blobs = [self.open_features(pid) for pid in queued]
        try:
            self._score(queued, blobs)
        except QualityError:
            # One file the assessor refuses (shape, labels, extractor) must not block the
            # others: score them one by one, and reject the files that fail.
            for pid, blob in zip(queued, blobs, strict=True):
                try:
                    self._score([pid], [blob])
                except QualityError as error:
                    self._put_provider(pid, status="rejected", reason=str(error))
        return True

    def _score(self, pids: list[str], blobs: list[bytes]) -> None:
        a = self.assessor
        for score in pipeline.score_providers(
            a.secret, a.m_init, blobs, a.validation, a.config, a.extractor
        ):
            self._put_provider(
                pids[score.provider],
                status="scored",
                accuracy=score.accuracy,
                loss=score.loss,
                eligible=score.eligible,
            )

    def ranking(self) -> list[str]:
        """Scored providers, best first (higher accuracy, then lower loss)."""
        scored = [(pid, f) for pid, f in self.providers().items() if "accuracy" in f]
        return [
            pid
            for pid, _ in sorted(scored, key=lambda item: (-item[1]["accuracy"], item[1]["loss"]))
        ]

    def on_timers(self, now: int) -> bool:
        facts = self.facts()
        if not facts:
            return False
        progressed = self.score_queued()
        if not facts["decided"] and now >= facts["cf_evaluation_deadline"]:
            self.end_evaluation(facts)
            progressed = True
        if (
            now >= facts["deadline"]
            and not self.is_deal(facts)
            and self.state.intent("claim_refund") is None
        ):
            self.intend("claim_refund", "claim_refund", self.session())
            progressed = True
        return progressed

    def end_evaluation(self, facts: dict) -> None:
        """EndEvaluation (lines 38-42): the best eligible provider whose dataset is all
        there becomes the candidate, named with the review key."""
        providers = self.providers()
        eligible = [pid for pid in self.ranking() if providers[pid]["eligible"]]
        candidate = next((pid for pid in eligible if self.acquire(facts, pid)), None)
        # The decision lasts as the set_candidate intent it makes does (a reorg sends
        # that intent again as it was, so nothing it was computed from may be undone)
        self.state.put("session", "decided", True, lasting=True)
        self.state.put("session", "candidate", candidate, lasting=True)
        if candidate is not None:
            self.intend(
                "set_candidate", "set_candidate", self.session(), candidate, self.review_key()
            )

    def acquire(self, facts: dict, pid: str) -> bool:
        """Fetch `pid`'s manifest and every encrypted shard it names, check them against
        the registered root, and keep them; False (and why, noted) if any is missing."""
        provider = self.state.scope(f"provider:{pid}")
        try:
            manifest_blob = self.store.get(bytes32_to_cid(provider["adr_manifest"]))
            manifest = decode_manifest(manifest_blob)
            if manifest is None or len(manifest) != facts["cf_shards"]:
                raise ArtifactError(f"its manifest does not list {facts['cf_shards']} shards")
            if compute_merkle_root([compute_leaf(c, h) for c, h in manifest]) != provider["root"]:
                raise ArtifactError("its manifest is not the dataset its root commits to")
            ciphertexts = [self.store.get(bytes32_to_cid(cid)) for cid, _ in manifest]
        except (DatastoreError, ArtifactError) as error:
            self._put_provider(pid, passed_over=str(error))
            self._say(logging.WARNING, "passes over %s, its data is not all there: %s", pid, error)
            return False
        name = acquired_file(self.session(), pid)
        self.state.write_secret_file(name, encode_blobs([manifest_blob, *ciphertexts]))
        self.state.put(f"provider:{pid}", "acquired", name, lasting=True)
        return True

    def acquired(self, pid: str) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        """(manifest, ciphertexts) of a provider acquired at EndEvaluation."""
        name = self.state.get(f"provider:{pid}", "acquired")
        manifest_blob, *ciphertexts = decode_blobs(self.state.read_secret_file(name), name)
        return decode_manifest(manifest_blob), ciphertexts

    def review_secret(self) -> int:
        """The session's review key's secret: drawn once, kept at rest, and kept through a
        reorg too, as the set_candidate intent that names its public key is."""
        secret = self.state.get("session", "review_secret")
        if secret is None:
            secret, _ = new_review_key()
            self.state.put_secret("session", "review_secret", secret, lasting=True)
        return secret

    def review_key(self) -> bytes:
        return secp256k1.compute_public_key(self.review_secret())

    # Closure (lines 28-37)

    def _new_deadline(self, event: ChainEvent, **facts) -> bool:
        """Note the session's new deadline (a dispute's: its block, the session settles at
        once) and `facts`; False if the event is not about this session."""
        if not self._is_ours(event):
            return False
        deadline = event.args.get("deadline")
        if deadline is None:
            deadline = self.chain.timestamp(event.block_number)
        self._put(deadline=deadline, **facts)
        return True

    def on_SetCandidate(self, event: ChainEvent) -> None:
        self._new_deadline(event, phase="reviewing")

    def on_SubmitReview(self, event: ChainEvent) -> None:
        if not self._new_deadline(event):
            return
        pid = event.args["pid"].lower()
        verdict = self.review(self.facts(), pid, event.args)
        self._put_provider(pid, review=verdict)
        if verdict == "accepted" and not self.abort_after_review:
            self.intend("set_optimal", "set_optimal", self.session(), pid)

    def review(self, facts: dict, pid: str, args: dict) -> str:
        """'accepted', or why the review does not stand: a sealed key that does not open
        to its committed hash is disputed on chain; a sample that does not back the
        submitted features is rejected (no proof exists for it on chain)."""
        sid, secret = self.session(), self.review_secret()
        _, ciphertexts = self.acquired(pid)
        shards, junk = {}, []
        for position, index in enumerate(args["indices"]):
            key = open_sealed_key(
                secret, args["ephemeral"], args["sealed_keys"][position], sid, position
            )
            if key is None or compute_key_hash(key) != args["key_hashes"][position]:
                self.intend(
                    "dispute_review",
                    "dispute_review",
                    sid,
                    secret,
                    args["ephemeral"],
                    list(args["sealed_keys"]),
                    list(args["key_hashes"]),
                    position,
                )
                return f"disputed: the sealed key of shard {index} does not open to its commitment"
            # a shard that does not decrypt under a key matching its commitment is not
            # provable on chain; the later keys still are, so the loop goes on
            try:
                plaintext = decrypt_shard(key, facts["binding"], index, ciphertexts[index])
                shards[index] = decode_shard(plaintext, f"shard {index}")
            except (CryptoError, ArtifactError):
                junk.append(index)
        if junk:
            self.keep_sample(pid, shards)
            return (
                f"rejected: sampled shards {', '.join(map(str, junk))} do not decrypt under keys"
                " that match their commitments (not provable on chain)"
            )
        x, y = join_shards(list(shards.values()))
        if not pipeline.review(self.assessor.extractor, x, y, self.open_features(pid)):
            self.keep_sample(pid, shards)
            return "rejected: the sampled shards do not produce the submitted features"
        return "accepted"

    def keep_sample(self, pid: str, shards: dict) -> None:
        """A review that stands unanswered costs the compensation: the collector keeps
        the sampled shards it paid for, encrypted at rest, beside its state."""
        x, y = join_or_empty(list(shards.values()))
        path = self.state.write_secret_file(sample_file(self.session(), pid), encode_shard(x, y))
        self._put_provider(pid, sample_path=str(path), sample_shards=sorted(shards))

    def on_DisputeReview(self, event: ChainEvent) -> None:
        self._new_deadline(event)

    def on_SetOptimal(self, event: ChainEvent) -> None:
        self._new_deadline(event, phase="reviewed", optimal=event.args["pid"].lower())

    def on_ClaimReward(self, event: ChainEvent) -> None:
        if self._new_deadline(event, phase="closed"):
            self.receive_dataset(self.facts(), event.args)

    def receive_dataset(self, facts: dict, args: dict) -> None:
        """Open the master key, check every shard key it gives against the manifest (the
        first that fails is disputed), decrypt every kept shard and keep the dataset."""
        sid, pid, secret = self.session(), facts["optimal"], self.review_secret()
        manifest, ciphertexts = self.acquired(pid)
        master = open_sealed_key(
            secret, args["ephemeral"], args["sealed_master"], sid, MASTER_KEY_SLOT
        )
        wrong = find_wrong_shard_key(master, [key_hash for _, key_hash in manifest])
        if wrong is not None:
            dispute = get_dispute_claim_args(sid, secret, args, manifest, wrong)
            self.intend("dispute_claim", "dispute_claim", *dispute)
            self._put(dataset=f"disputed: the master key does not give shard {wrong}'s key")
            return
        keys = [compute_shard_key(master, index) for index in range(len(manifest))]
        shards, unprovable = [], []
        for index, (key, ciphertext) in enumerate(zip(keys, ciphertexts, strict=True)):
            try:
                plaintext = decrypt_shard(key, facts["binding"], index, ciphertext)
                shards.append(decode_shard(plaintext, f"shard {index}"))
            except (CryptoError, ArtifactError):
                unprovable.append(index)
        x, y = join_or_empty(shards)
        path = self.state.write_secret_file(dataset_file(sid), encode_shard(x, y))
        summary = f"{len(shards)} shards, {len(x)} entries verified"
        if unprovable:
            summary = (
                f"{len(shards)} of {len(keys)} shards, {len(x)} entries verified; shards"
                f" {', '.join(map(str, unprovable))} do not decrypt under keys that match"
                " their commitments (not provable on chain)"
            )
        self._put(dataset=summary, dataset_path=str(path))

    def on_DisputeClaim(self, event: ChainEvent) -> None:
        self._new_deadline(event, claim_rejected=True)

    def on_ClaimRefund(self, event: ChainEvent) -> None:
        if self._is_ours(event):
            self._put(refund=event.args["amount"])

    @staticmethod
    def is_deal(facts: dict) -> bool:
        """The master key is in and was not proven wrong (once settled: a closed deal)."""
        return facts["phase"] == "closed" and not facts["claim_rejected"]

    def deadlines(self) -> list[int]:
        facts = self.facts()
        if not facts or self.is_done():
            return []
        return [facts["deadline"]] + ([] if facts["decided"] else [facts["cf_evaluation_deadline"]])

    def clock_ready(self) -> bool:
        """On a development chain: not while a registered provider's features are due or
        being scored (`hyperx.impl.clients.devchain`)."""
        return bool(self.facts()) and all(
            facts.get("status") in ("scored", "rejected") for facts in self.providers().values()
        )

    def is_done(self) -> bool:
        """The session is settled and the collector has what it gets: the dataset of a deal
        whose complaint window has passed, or the refund (or the contract's refusal)."""
        facts = self.facts()
        if not facts:
            return False
        refund = self.state.intent("claim_refund")
        if "refund" in facts or (refund is not None and refund.status == "failed"):
            return True
        settled = self.chain.timestamp(self.chain.head()) >= facts["deadline"]
        return settled and self.is_deal(facts) and "dataset" in facts

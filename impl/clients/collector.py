"""Prot_COL (paper Figure 3, lines 1-42): the collector as an event-driven client.

The real counterpart of `hyperx.spec.parties.Collector`: the same handlers and
decisions, over web3 (or any `Ledger`), a content-addressed store, AES-GCM/ECIES
and the JAX assessor instead of plain callables.

Its state (SQLite, see `state`): the session's terms and deadline, and per provider
the sample, the features' address, the score and the review's verdict. Handlers:

- `start_session` (lines 3-12): store the obfuscated extractor and the offer on
  F_DS, then create the session with the reward escrowed.
- Registration (17-21): sample the provider once, with fresh randomness, as many
  shard positions as cf_pct allows.
- SubmitFeatures (22-27): fetch the features (the store checks them against their
  CID) and queue them; queued features are scored together, in one compiled program
  of the assessor, at the next turn.
- EndEvaluation (38-42), a timeout at cf_evaluation_deadline: the best provider
  whose score passes the threshold becomes the candidate; if none passes, the
  session is left to expire and the reward is refunded.
- SubmitReview (28-34): open the sealed K_data, fetch and decrypt the sampled
  shards, recompute their features and compare them with the submitted ones within
  the assessor's tolerance; SetOptimal if they match. Otherwise the collector
  aborts (and, after expiry, the candidate is compensated by the contract).
- ClaimReward (35-37): collect the revealed keys; with the last chunk, fetch and
  decrypt the whole dataset and check every shard.
- Expiry: claim the refund of what the escrow still owes.
"""

import secrets
from dataclasses import dataclass, fields

import numpy as np

from hyperx.impl.clients.artifacts import (
    ArtifactError,
    decode_shard,
    encode_offer,
    encode_shard,
    join_shards,
)
from hyperx.impl.clients.daemon import ChainEvent, Party
from hyperx.impl.clients.provider import seal_context
from hyperx.impl.crypto import (
    CryptoError,
    decrypt_shard,
    open_k_data,
    public_key_from_private_key,
    session_binding,
)
from hyperx.impl.datastore.cid import DatastoreError, bytes32_to_cid, cid_to_bytes32
from hyperx.impl.quality import pipeline
from hyperx.impl.quality.config import QualityConfig
from hyperx.impl.quality.errors import QualityError
from hyperx.spec.contract import SessionConfig
from hyperx.spec.parties import compute_sample_size

CONFIG_FIELDS = [f.name for f in fields(SessionConfig) if f.name != "adr_theta"]


def dataset_file(sid: int) -> str:
    """The bought dataset, beside the collector's state: an .npz of x and y (as a shard
    is), encrypted at rest; `hyperx collector export` writes it out in clear."""
    return f"dataset-session-{sid}.npz.sealed"


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
        """Per registered provider: sample, features, score, review."""
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
            deadline=args["cf_evaluation_deadline"] + args["cf_review_s"],
            providers=[],
            candidate=None,
            decided=False,
            closed=False,
        )

    # Evaluation (lines 17-27)

    def on_Registration(self, event: ChainEvent) -> None:
        if not self._is_ours(event):
            return
        facts, pid = self.facts(), event.args["pid"].lower()
        bound = compute_sample_size(facts["cf_shards"], facts["cf_pct_bps"])
        indices = sorted(secrets.SystemRandom().sample(range(facts["cf_shards"]), bound))
        self._put(providers=[*facts["providers"], pid])
        self._put_provider(pid, indices=indices, status="sampled")
        self.intend(f"sample_data:{pid}", "sample_data", event.args["sid"], pid, indices)

    def on_SubmitFeatures(self, event: ChainEvent) -> None:
        if not self._is_ours(event):
            return
        pid, cid = event.args["pid"].lower(), bytes32_to_cid(event.args["adr_feature"])
        try:
            features = pipeline.load_features(self.store.get(cid), f"features of {pid} ({cid})")
        except (DatastoreError, QualityError) as error:
            self._put_provider(pid, status="rejected", reason=str(error))
            return
        sampled_rows = self.state.get(f"provider:{pid}", "indices")
        self._put_provider(
            pid,
            features_cid=cid,
            rows=len(features.features),
            sampled_shards=len(sampled_rows),
            status="features",
        )

    def score_queued(self) -> bool:
        """Score every provider whose features arrived since the last turn, in one batch."""
        queued = [
            pid for pid, facts in self.providers().items() if facts.get("status") == "features"
        ]
        if not queued:
            return False
        blobs = [
            self.store.get(self.state.get(f"provider:{pid}", "features_cid")) for pid in queued
        ]
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
            not facts["closed"]
            and now >= facts["deadline"]
            and self.state.intent("claim_refund") is None
        ):
            self.intend("claim_refund", "claim_refund", self.session())
            progressed = True
        return progressed

    def end_evaluation(self, facts: dict) -> None:
        """EndEvaluation (lines 38-42): the best eligible provider becomes the candidate."""
        providers = self.providers()
        eligible = [pid for pid in self.ranking() if providers[pid]["eligible"]]
        self._put(decided=True, candidate=eligible[0] if eligible else None)
        if eligible:
            self.intend("set_candidate", "set_candidate", self.session(), eligible[0])

    # Closure (lines 28-37)

    def on_SetCandidate(self, event: ChainEvent) -> None:
        if self._is_ours(event):
            self._put(deadline=event.args["deadline"])

    def on_SubmitReview(self, event: ChainEvent) -> None:
        if not self._is_ours(event):
            return
        facts, pid = self.facts(), event.args["pid"].lower()
        self._put(deadline=self.chain.timestamp(event.block_number) + facts["cf_review_s"])
        verdict = self.review(facts, pid, event.args)
        self._put_provider(pid, review=verdict)
        if verdict == "accepted" and not self.abort_after_review:
            self.intend("set_optimal", "set_optimal", self.session(), pid)

    def review(self, facts: dict, pid: str, args: dict) -> str:
        """'accepted', or why the revealed sample does not back the submitted features."""
        provider = self.state.scope(f"provider:{pid}")
        if list(args["indices"]) != provider["indices"]:
            return "rejected: the revealed indices are not the sample"
        try:
            k_data = open_k_data(
                self.account.private_key, args["k_data_sealed"], seal_context(facts["binding"], pid)
            )
            x, y = join_shards(
                self.fetch_shards(facts["binding"], k_data, provider["indices"], args["keys"])
            )
            features = self.store.get(provider["features_cid"])
        except (CryptoError, DatastoreError, ArtifactError) as error:
            return f"rejected: {error}"
        self.state.put_secret(f"provider:{pid}", "k_data", k_data)
        if not pipeline.review(self.assessor.extractor, x, y, features):
            return "rejected: the sampled shards do not produce the submitted features"
        return "accepted"

    def fetch_shards(self, binding: bytes, k_data: bytes, indices, keys) -> list:
        shards = []
        for index, key in zip(indices, keys, strict=True):
            cid = bytes32_to_cid(key)
            shards.append(
                decode_shard(
                    decrypt_shard(k_data, binding, index, self.store.get(cid)),
                    f"shard {index} ({cid})",
                )
            )
        return shards

    def on_SetOptimal(self, event: ChainEvent) -> None:
        if self._is_ours(event):
            self._put(deadline=event.args["deadline"], optimal=event.args["pid"].lower())

    def on_ClaimReward(self, event: ChainEvent) -> None:
        if not self._is_ours(event):
            return
        facts = self.facts()
        revealed = {
            **facts.get("revealed", {}),
            str(event.args["chunk_index"]): list(event.args["keys"]),
        }
        self._put(revealed=revealed)
        if event.args["reward"] > 0:
            self._put(closed=True)
            self.receive_dataset(
                facts, [key for chunk in sorted(revealed, key=int) for key in revealed[chunk]]
            )

    def receive_dataset(self, facts: dict, keys: list[bytes]) -> None:
        """Fetch, decrypt and check every shard of P_opt's dataset, and keep it."""
        pid = facts["optimal"]
        k_data = self.state.get(f"provider:{pid}", "k_data")
        try:
            x, y = join_shards(self.fetch_shards(facts["binding"], k_data, range(len(keys)), keys))
        except (CryptoError, DatastoreError, ArtifactError) as error:
            self._put(dataset=f"rejected: {error}")
            return
        path = self.state.write_secret_file(dataset_file(self.session()), encode_shard(x, y))
        self._put(dataset=f"{len(keys)} shards, {len(x)} entries verified", dataset_path=str(path))

    def on_ClaimRefund(self, event: ChainEvent) -> None:
        if self._is_ours(event):
            self._put(refund=event.args["amount"])

    def deadlines(self) -> list[int]:
        facts = self.facts()
        if not facts or facts["closed"]:
            return []
        return [facts["deadline"]] + ([] if facts["decided"] else [facts["cf_evaluation_deadline"]])

    def clock_ready(self) -> bool:
        """On a development chain: not while a registered provider's features are due or
        being scored (`hyperx.impl.clients.devchain`)."""
        return bool(self.facts()) and all(
            facts.get("status") in ("scored", "rejected") for facts in self.providers().values()
        )

    def is_done(self) -> bool:
        facts = self.facts()
        if not facts:
            return False
        refund = self.state.intent("claim_refund")
        return (
            "dataset" in facts
            or "refund" in facts
            or (refund is not None and refund.status == "failed")
        )

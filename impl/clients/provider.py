"""Prot_PRI (paper Figure 3, lines 43-72): a provider as an event-driven client.

The real counterpart of `hyperx.spec.parties.Provider`: the same handlers and
decisions, over web3 (or any `Ledger`), a content-addressed store, AES-GCM/ECIES
and the JAX assessor instead of plain callables.

Data[sid] lives in the party's SQLite file (scope `session:<sid>`): K_data, the
shard keys adr_data^p, the sample, the session's deadline. Handlers, by the event
that triggers them (Figure 3 line numbers):

- CreateSession (46-53): read the offer behind adr_theta, draw a fresh K_data,
  encrypt each shard with AES-GCM bound to (session, index), store the shards, and
  register the Merkle root of the hashed shard keys with the deposit.
- SampleData (57-62): fetch exactly the sampled shards, decrypt them, extract their
  features with the published extractor, store them, submit their address.
- SetCandidate (63-65): reveal the sampled keys with Merkle proofs, and K_data
  sealed to the collector's public key (ECIES), bound to the session and provider.
- SetOptimal (66-68): claim the reward with every key, in CHUNK_SIZE chunks.
- ClaimReward of the last chunk, or the session's deadline (69-72): claim the
  deposit.

`Misbehaviour` makes a provider lie in the ways the collector's review must catch
(fault tests and demos of the review); an honest provider has none.
"""

from dataclasses import dataclass

import numpy as np

from hyperx.impl.clients.artifacts import (
    ArtifactError,
    decode_offer,
    decode_shard,
    join_shards,
    split_into_shards,
)
from hyperx.impl.clients.daemon import ChainEvent, Party, log
from hyperx.impl.clients.policy import JoinPolicy
from hyperx.impl.crypto import (
    decrypt_shard,
    encrypt_shard,
    new_k_data,
    seal_k_data,
    session_binding,
)
from hyperx.impl.datastore.cid import DatastoreError, bytes32_to_cid, cid_to_bytes32
from hyperx.impl.quality import pipeline
from hyperx.impl.quality.errors import QualityError
from hyperx.spec.config import CHUNK_SIZE
from hyperx.spec.merkle import (
    compute_chunk_proof,
    compute_merkle_proof,
    compute_merkle_root,
    get_chunk_count,
)


@dataclass(frozen=True)
class Misbehaviour:
    """Ways to cheat; each one the collector must reject."""

    wrong_k_data: bool = False  # seal a key other than the one the shards are encrypted with
    features_of: tuple | None = None  # submit features of this (x, y) instead of the sampled shards
    foreign_extractor: bytes | None = None  # extract with this extractor, not the session's


def seal_context(binding: bytes, provider: str) -> bytes:
    """What a sealed K_data is bound to: this session, this provider."""
    return binding + bytes.fromhex(provider.removeprefix("0x"))


class ProviderClient(Party):
    role = "provider"

    def __init__(
        self,
        chain,
        account,
        state,
        store,
        dataset,
        *,
        session_id=None,
        confirmations=0,
        finality=None,
        policy=None,
        misbehaviour=Misbehaviour(),
    ):
        super().__init__(chain, account, state, confirmations, finality=finality)
        self.store = store  # F_DS: hyperx.impl.datastore Datastore
        self.x, self.y = dataset
        self.session_id = session_id  # join only this session; None: the first one that fits
        self.policy = policy or JoinPolicy()  # this provider's terms for joining a session
        self.misbehaviour = misbehaviour

    def session(self) -> int | None:
        """The session this provider joined, if any."""
        return self.state.get("provider", "sid")

    def facts(self) -> dict:
        sid = self.session()
        return {} if sid is None else self.state.scope(f"session:{sid}")

    def _session_facts(self, event: ChainEvent, pid_field: str = "pid") -> dict | None:
        """Data[sid] if the event is about this provider's session (and, if named, this provider)."""
        if event.args["sid"] != self.session():
            return None
        if pid_field and event.args.get(pid_field, "").lower() != self.address:
            return None
        return self.facts()

    def _put(self, **facts) -> None:
        for name, value in facts.items():
            self.state.put(f"session:{self.session()}", name, value)

    # Setup (Figure 3, lines 46-53)

    def on_CreateSession(self, event: ChainEvent) -> None:
        sid = event.args["sid"]
        if self.session() is not None or (self.session_id is not None and sid != self.session_id):
            return
        refusal = self.policy.refusal(event.args, self.chain.timestamp(self.chain.head()))
        if refusal is not None:
            return self._skip(sid, refusal)
        shards_wanted = event.args["cf_shards"]
        try:
            if shards_wanted > len(self.x):
                raise ArtifactError(
                    f"the session wants {shards_wanted} shards, the dataset has {len(self.x)} entries"
                )
            offer = self.store.get(bytes32_to_cid(event.args["adr_theta"]))
            extractor_cid, collector_key = decode_offer(offer, event.args["collector"])
            # A provider joins only a session whose extractor it can fetch and run on its data.
            pipeline.check_provider_images(
                pipeline.load_extractor(self.store.get(extractor_cid)), self.x, self.y
            )
        except (ArtifactError, DatastoreError, QualityError) as error:
            return self._skip(sid, str(error))
        binding = session_binding(self.chain.chain_id, self.chain.contract_address, sid)
        k_data = new_k_data()
        keys = [
            cid_to_bytes32(self.store.put(encrypt_shard(k_data, binding, index, shard)))
            for index, shard in enumerate(split_into_shards(self.x, self.y, shards_wanted))
        ]
        self.state.put("provider", "sid", sid)
        self.state.put_secret(f"session:{sid}", "k_data", k_data)
        self.state.put_secret(f"session:{sid}", "keys", keys)
        self._put(
            binding=binding,
            collector=event.args["collector"].lower(),
            collector_public_key=collector_key,
            extractor_cid=extractor_cid,
            cf_review_s=event.args["cf_review_s"],
            cf_deposit=event.args["cf_deposit"],
            deadline=event.args["cf_evaluation_deadline"] + event.args["cf_review_s"],
            closed=False,
        )
        self.intend(
            f"registration:{sid}",
            "registration",
            sid,
            compute_merkle_root(keys),
            shards_wanted,
            value=event.args["cf_deposit"],
        )

    def _skip(self, sid: int, reason: str) -> None:
        self.state.put("provider", f"skipped:{sid}", reason)
        log.warning("provider %s skips session %d: %s", self.address[:10], sid, reason)

    # Evaluation (lines 57-62)

    def on_SampleData(self, event: ChainEvent) -> None:
        facts = self._session_facts(event)
        if facts is None:
            return
        sid, indices = event.args["sid"], list(event.args["indices"])
        if self.misbehaviour.features_of is not None:
            x, y = self.misbehaviour.features_of
        else:
            x, y = join_shards(self.fetch_shards(facts, indices))
        extractor = self.misbehaviour.foreign_extractor or self.store.get(facts["extractor_cid"])
        features = pipeline.extract_features(extractor, x, y)
        features_cid = self.store.put(features)
        self._put(indices=indices, features_cid=features_cid)
        self.intend(f"submit_features:{sid}", "submit_features", sid, cid_to_bytes32(features_cid))

    def fetch_shards(self, facts: dict, indices: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The provider's own shards at `indices`, fetched, verified and decrypted."""
        shards = []
        for index in indices:
            cid = bytes32_to_cid(facts["keys"][index])
            plaintext = decrypt_shard(facts["k_data"], facts["binding"], index, self.store.get(cid))
            shards.append(decode_shard(plaintext, f"shard {index} ({cid})"))
        return shards

    # Closure (lines 63-72)

    def _new_deadline(self, event: ChainEvent) -> dict | None:
        """Note the session's new deadline; Data[sid] if the event names this provider."""
        facts = self._session_facts(event, pid_field="")
        if facts is None:
            return None
        self._put(deadline=event.args["deadline"])
        return facts if event.args["pid"].lower() == self.address else None

    def on_SetCandidate(self, event: ChainEvent) -> None:
        facts = self._new_deadline(event)
        if facts is None:
            return
        sid, keys, indices = event.args["sid"], facts["keys"], facts["indices"]
        k_data = new_k_data() if self.misbehaviour.wrong_k_data else facts["k_data"]
        sealed = seal_k_data(
            facts["collector_public_key"], k_data, seal_context(facts["binding"], self.address)
        )
        proofs = [compute_merkle_proof(keys, index) for index in indices]
        self.intend(
            f"submit_review:{sid}",
            "submit_review",
            sid,
            indices,
            [keys[i] for i in indices],
            proofs,
            sealed,
        )

    def on_SubmitReview(self, event: ChainEvent) -> None:
        facts = self._session_facts(event, pid_field="")
        if facts is not None:
            self._put(deadline=self.chain.timestamp(event.block_number) + facts["cf_review_s"])

    def on_SetOptimal(self, event: ChainEvent) -> None:
        facts = self._new_deadline(event)
        if facts is None:
            return
        sid, keys = event.args["sid"], facts["keys"]
        for chunk in range(get_chunk_count(len(keys))):
            chunk_keys = keys[chunk * CHUNK_SIZE : (chunk + 1) * CHUNK_SIZE]
            self.intend(
                f"claim_reward:{sid}:{chunk}",
                "claim_reward",
                sid,
                chunk,
                chunk_keys,
                compute_chunk_proof(keys, chunk),
            )

    def on_ClaimReward(self, event: ChainEvent) -> None:
        if self._session_facts(event, pid_field="") is not None and event.args["reward"] > 0:
            self._put(closed=True)
            self.intend(f"claim_deposit:{event.args['sid']}", "claim_deposit", event.args["sid"])

    def on_ClaimDeposit(self, event: ChainEvent) -> None:
        if self._session_facts(event) is not None:
            self._put(deposit_returned=event.args["amount"])

    def on_timers(self, now: int) -> bool:
        facts = self.facts()
        if not facts or facts["closed"] or now < facts["deadline"]:
            return False
        sid = self.session()
        if self.state.intent(f"claim_deposit:{sid}") is not None:
            return False
        self.intend(f"claim_deposit:{sid}", "claim_deposit", sid)
        return True

    def deadlines(self) -> list[int]:
        facts = self.facts()
        return [] if not facts or facts["closed"] else [facts["deadline"]]

    def is_done(self) -> bool:
        """Nothing left to do: the deposit came back, or the contract refused it."""
        sid = self.session()
        if sid is None:
            return False
        intent = self.state.intent(f"claim_deposit:{sid}")
        return "deposit_returned" in self.facts() or (
            intent is not None and intent.status == "failed"
        )

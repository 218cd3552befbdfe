"""Prot_PRI (paper Figure 3, lines 43-72): a provider as an event-driven client.

The real counterpart of `hyperx.spec.parties.Provider`: the same handlers and
decisions, over web3 (or any `Ledger`), a content-addressed store, AES-GCM and ECIES
and the JAX assessor instead of plain callables.

Data[sid] lives in the party's SQLite file (scope `session:<sid>`): the master key K
(a secret at rest), the shards' content addresses and key hashes (public), the
sample, the review key, the session's deadline. Handlers, by the event that triggers
them (Figure 3 line numbers):

- CreateSession (46-53): if the join policy accepts the terms, read the offer behind
  adr_theta, draw K, encrypt shard i with AES-GCM under k_i = keccak256(K || i),
  bound to (session, i), store every ciphertext (its CID digest is cid_i) and the
  manifest of (cid_i, h_i = keccak256(k_i)), and register the Merkle root over the
  leaves keccak256(cid_i || h_i) with the deposit.
- SampleData (57-62): fetch and decrypt exactly the sampled shards, extract their
  features with the published extractor, seal them to the collector's key bound to
  this session and this provider, store them, submit their address.
- SetCandidate (63-65): open the sampled leaves with their Merkle proofs and seal the
  sampled shard keys to the review key the event names.
- SetOptimal (66-68): seal K to the review key, in one claim_reward whatever the
  shard count. The reward is not paid here.
- The session's deadline (69-72), followed through every event that moves it (after
  ClaimReward, the end of the complaint window; after a dispute, the dispute's
  block): claim the deposit, which pays the optimal provider of an undisputed deal
  its reward too, and a candidate whose review stood unanswered CF_% of it.

`Misbehaviour` makes a provider cheat in the ways the collector must catch and the
contract must price (fault tests); an honest provider has none.
"""

import secrets
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
    features_context,
    new_master_key,
    seal_to,
    session_binding,
)
from hyperx.impl.datastore import compute_root_cid
from hyperx.impl.datastore.cid import DatastoreError, bytes32_to_cid, cid_to_bytes32
from hyperx.impl.quality import pipeline
from hyperx.impl.quality.data import Labelled
from hyperx.impl.quality.errors import QualityError
from hyperx.spec import secp256k1
from hyperx.spec.config import MASTER_KEY_SLOT
from hyperx.spec.merkle import compute_leaf, compute_merkle_proof, compute_merkle_root
from hyperx.spec.parties import encode_manifest
from hyperx.spec.sealing import compute_key_hash, compute_shard_key, draw_ephemeral, seal_keys


@dataclass(frozen=True)
class Misbehaviour:
    """Ways to cheat; the collector must catch each one, and the contract price it."""

    wrong_sample_keys: bool = False  # seal keys of another master key at review: disputed
    wrong_master_key: bool = False  # seal another master key at ClaimReward: disputed
    features_of: tuple | None = None  # features of this (x, y), not of the sample: review fails
    foreign_extractor: bytes | None = None  # extract with this extractor: never scored
    withhold: bool = False  # store only the shards the collector samples: never a candidate
    # encrypt these shards under another key than the one committed: junk nobody can
    # open, and nothing on chain shows it (in the sample, the review stands unanswered)
    junk_shards: tuple[int, ...] = ()


def seal_to_review_key(review_key: bytes, keys: list[bytes], sid: int, slots: list[int]):
    """(ephemeral, sealed keys): `seal_keys` under a fresh ephemeral secret (its point's
    x below the group order, as ecrecover needs).

    A review key that is not a point of the curve has no secret: nobody can open what
    is sealed to it, nor dispute it. The contract takes any 64 bytes, so a collector
    can name one; the provider then answers in time with random seals, which keep
    its keys to itself (the spec's provider cannot seal to it at all)."""
    ephemeral_secret = draw_ephemeral(secrets.token_bytes(32))
    if secp256k1.decode_point(review_key) is None:
        ephemeral = secp256k1.compute_public_key(ephemeral_secret)
        return ephemeral, [secrets.token_bytes(32) for _ in keys]
    return seal_keys(review_key, keys, sid, slots, ephemeral_secret)


def compute_leaves(facts: dict) -> list[bytes]:
    return [compute_leaf(c, h) for c, h in zip(facts["cids"], facts["key_hashes"], strict=True)]


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
        # A user's file (`Labelled`: labels with their class names) is mapped to the
        # task's indices by the names the session's extractor carries, when it joins;
        # a synthetic dataset comes as (images, task indices)
        self.labelled = dataset if isinstance(dataset, Labelled) else None
        self.x, self.y = (dataset.x, dataset.y) if self.labelled is not None else dataset
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
            extractor = self.store.get(extractor_cid)
            if self.labelled is not None:
                self.x, self.y = pipeline.provider_labels(extractor, self.labelled, "--data")
            pipeline.check_provider_images(pipeline.load_extractor(extractor), self.x, self.y)
        except (ArtifactError, DatastoreError, QualityError) as error:
            return self._skip(sid, str(error))
        binding = session_binding(self.chain.chain_id, self.chain.contract_address, sid)
        self.state.put("provider", "sid", sid)
        commitment = self.commit_dataset(sid, binding, shards_wanted)
        self._put(
            binding=binding,
            collector=event.args["collector"].lower(),
            collector_public_key=collector_key,
            extractor_cid=extractor_cid,
            deadline=event.args["cf_evaluation_deadline"] + event.args["cf_review_s"],
        )
        self.intend(
            f"registration:{sid}",
            "registration",
            sid,
            commitment["root"],
            shards_wanted,
            commitment["adr_manifest"],
            value=event.args["cf_deposit"],
        )

    def commit_dataset(self, sid: int, binding: bytes, count: int) -> dict:
        """Encrypt every shard under its own key, store the ciphertexts and the manifest;
        Data[sid] with the commitment. Made once per session: the facts last through a
        reorg, as the registration intent that carries the root does."""
        scope = f"session:{sid}"
        facts = self.state.scope(scope)
        if "root" in facts:
            return facts
        master_key = new_master_key()
        cids, key_hashes, withheld = [], [], {}
        for index, shard in enumerate(split_into_shards(self.x, self.y, count)):
            shard_key = compute_shard_key(master_key, index)
            sealing_key = new_master_key() if index in self.misbehaviour.junk_shards else shard_key
            ciphertext = encrypt_shard(sealing_key, binding, index, shard)
            if self.misbehaviour.withhold:
                cid, withheld[str(index)] = compute_root_cid(ciphertext), ciphertext
            else:
                cid = self.store.put(ciphertext)
            cids.append(cid_to_bytes32(cid))
            key_hashes.append(compute_key_hash(shard_key))
        commitment = {
            "cids": cids,
            "key_hashes": key_hashes,
            "adr_manifest": cid_to_bytes32(self.store.put(encode_manifest(cids, key_hashes))),
            "withheld": withheld,
        }
        commitment["root"] = compute_merkle_root(compute_leaves(commitment))
        self.state.put_secret(scope, "master_key", master_key, lasting=True)
        for name, value in commitment.items():
            self.state.put(scope, name, value, lasting=True)
        return self.state.scope(scope)

    def _skip(self, sid: int, reason: str) -> None:
        self.state.put("provider", f"skipped:{sid}", reason)
        log.warning("provider %s skips session %d: %s", self.address[:10], sid, reason)

    # Evaluation (lines 57-62)

    def on_SampleData(self, event: ChainEvent) -> None:
        facts = self._session_facts(event)
        if facts is None:
            return
        sid, indices = event.args["sid"], list(event.args["indices"])
        for index in indices:  # a withholding provider stores what is asked for, no more
            if str(index) in facts["withheld"]:
                self.store.put(facts["withheld"][str(index)])
        if self.misbehaviour.features_of is not None:
            x, y = self.misbehaviour.features_of
        elif self.misbehaviour.junk_shards:  # its junk does not decrypt: it has the plaintext
            parts = split_into_shards(self.x, self.y, len(facts["cids"]))
            x, y = join_shards([decode_shard(parts[i], f"shard {i}") for i in indices])
        else:
            x, y = join_shards(self.fetch_shards(facts, indices))
        extractor = self.misbehaviour.foreign_extractor or self.store.get(facts["extractor_cid"])
        features = pipeline.extract_features(extractor, x, y)
        sealed = seal_to(
            facts["collector_public_key"],
            features,
            features_context(facts["binding"], self.address),
        )
        features_cid = self.store.put(sealed)
        self._put(indices=indices, features_cid=features_cid)
        self.intend(f"submit_features:{sid}", "submit_features", sid, cid_to_bytes32(features_cid))

    def fetch_shards(self, facts: dict, indices: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The provider's own shards at `indices`, fetched, verified and decrypted."""
        shards = []
        for index in indices:
            cid = bytes32_to_cid(facts["cids"][index])
            shard_key = compute_shard_key(facts["master_key"], index)
            plaintext = decrypt_shard(shard_key, facts["binding"], index, self.store.get(cid))
            shards.append(decode_shard(plaintext, f"shard {index} ({cid})"))
        return shards

    # Closure (lines 63-72)

    def _new_deadline(self, event: ChainEvent) -> dict | None:
        """Note the session's new deadline (a dispute's: its block, the session settles
        at once); Data[sid] if the event names this provider."""
        facts = self._session_facts(event, pid_field="")
        if facts is None:
            return None
        deadline = event.args.get("deadline")
        self._put(
            deadline=self.chain.timestamp(event.block_number) if deadline is None else deadline
        )
        return facts if event.args["pid"].lower() == self.address else None

    def on_SetCandidate(self, event: ChainEvent) -> None:
        facts = self._new_deadline(event)
        if facts is None:
            return
        sid, review_key, indices = event.args["sid"], event.args["review_key"], facts["indices"]
        self._put(review_key=review_key)
        master_key = (
            new_master_key() if self.misbehaviour.wrong_sample_keys else facts["master_key"]
        )
        ephemeral, sealed = seal_to_review_key(
            review_key,
            [compute_shard_key(master_key, index) for index in indices],
            sid,
            list(range(len(indices))),
        )
        leaves = compute_leaves(facts)
        self.intend(
            f"submit_review:{sid}",
            "submit_review",
            sid,
            indices,
            [facts["cids"][index] for index in indices],
            [facts["key_hashes"][index] for index in indices],
            [compute_merkle_proof(leaves, index) for index in indices],
            ephemeral,
            sealed,
        )

    def on_SubmitReview(self, event: ChainEvent) -> None:
        self._new_deadline(event)

    def on_DisputeReview(self, event: ChainEvent) -> None:
        if self._new_deadline(event) is not None:
            self._put(disputed="review")

    def on_SetOptimal(self, event: ChainEvent) -> None:
        facts = self._new_deadline(event)
        if facts is None:
            return
        sid, review_key = event.args["sid"], facts["review_key"]
        master_key = new_master_key() if self.misbehaviour.wrong_master_key else facts["master_key"]
        # `seal_master_key`: the one key in the master key's own slot
        ephemeral, (sealed,) = seal_to_review_key(review_key, [master_key], sid, [MASTER_KEY_SLOT])
        self.intend(f"claim_reward:{sid}", "claim_reward", sid, ephemeral, sealed)

    def on_ClaimReward(self, event: ChainEvent) -> None:
        self._new_deadline(event)

    def on_DisputeClaim(self, event: ChainEvent) -> None:
        if self._new_deadline(event) is not None:
            self._put(disputed="claim")

    def on_ClaimDeposit(self, event: ChainEvent) -> None:
        if self._session_facts(event) is not None:
            self._put(payout=event.args["amount"])

    def on_timers(self, now: int) -> bool:
        """SessionTimeout (lines 69-72): once the session is settled, claim the deposit."""
        facts, sid = self.facts(), self.session()
        if not facts or now < facts["deadline"] or self.state.intent(f"claim_deposit:{sid}"):
            return False
        self.intend(f"claim_deposit:{sid}", "claim_deposit", sid)
        return True

    def deadlines(self) -> list[int]:
        facts = self.facts()
        if not facts or self.state.intent(f"claim_deposit:{self.session()}"):
            return []
        return [facts["deadline"]]

    def is_done(self) -> bool:
        """Nothing left to do: the payout came, or the contract refused it (forfeited)."""
        sid = self.session()
        if sid is None:
            return False
        intent = self.state.intent(f"claim_deposit:{sid}")
        return "payout" in self.facts() or (intent is not None and intent.status == "failed")

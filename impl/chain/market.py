"""`Market`: a typed client of the deployed HyperX market, one method per interface.

The methods take the spec's arguments (`hyperx.spec.contract.process_*`, without the
state and message) plus the signing account, send one transaction, and return a
`TxResult` whose events are the spec's `Event`s, so that clients and tests compare
the chain with the spec directly. The getters return the spec's vocabulary too.
Addresses are lowercase 0x-hex strings, digests are `bytes`.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from hyperx.spec.config import MAX_MERKLE_DEPTH
from hyperx.spec.contract import EVENT_NAMES, Event, SessionConfig

from .compile import Artifact, compile_contract
from .connection import Chain


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    gas_used: int
    fee_wei: int  # gas_used * effective gas price: what the sender paid besides value
    events: list[Event]
    block_number: int | None = None


def _normalize(value):
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value


class Market:
    """The market contract at `address` on `chain`."""

    def __init__(self, chain: Chain, address: str, artifact: Artifact | None = None):
        self.chain = chain
        self.address = Web3.to_checksum_address(address)
        self.artifact = artifact or compile_contract()
        self.contract = chain.w3.eth.contract(address=self.address, abi=self.artifact.abi)

    @classmethod
    def deploy(cls, chain: Chain, sender: LocalAccount) -> tuple["Market", TxResult]:
        """Deploy a fresh market from `sender`; the client and the deployment receipt."""
        artifact = compile_contract()
        receipt = chain.transact(sender, None, bytes.fromhex(artifact.bytecode[2:]))
        market = cls(chain, receipt["contractAddress"], artifact)
        return market, market._result(receipt)

    # Interfaces (Figure 3)

    def create_session(
        self,
        sender: LocalAccount,
        *,
        cf_reward: int,
        cf_deposit: int,
        cf_pct_bps: int,
        cf_shards: int,
        cf_evaluation_deadline: int,
        cf_review_s: int,
        cf_claim_s: int,
        adr_theta: bytes,
        value: int | None = None,
    ) -> TxResult:
        """Escrow `cf_reward` (sent as value unless `value` says otherwise); the new
        sid is `result.events[0].args["sid"]`."""
        args = [
            cf_reward,
            cf_deposit,
            cf_pct_bps,
            cf_shards,
            cf_evaluation_deadline,
            cf_review_s,
            cf_claim_s,
            adr_theta,
        ]
        return self._send(sender, "create_session", args, cf_reward if value is None else value)

    def registration(
        self,
        sender: LocalAccount,
        sid: int,
        adr_data_root: bytes,
        n_shards: int,
        adr_manifest: bytes,
        value: int,
    ) -> TxResult:
        """Join session `sid` with the Merkle root over the shards' (cid, key hash)
        leaves and the manifest's datastore address; `value` is the exact deposit."""
        return self._send(
            sender, "registration", [sid, adr_data_root, n_shards, adr_manifest], value
        )

    def sample_data(
        self, sender: LocalAccount, sid: int, pid: str, indices: Sequence[int]
    ) -> TxResult:
        """Name the ascending shard positions `pid` must show (collector only)."""
        return self._send(
            sender, "sample_data", [sid, Web3.to_checksum_address(pid), list(indices)]
        )

    def submit_features(self, sender: LocalAccount, sid: int, adr_feature: bytes) -> TxResult:
        """Commit the datastore address of the sealed features of the sample."""
        return self._send(sender, "submit_features", [sid, adr_feature])

    def set_candidate(
        self, sender: LocalAccount, sid: int, pid: str, review_key: bytes
    ) -> TxResult:
        """Pick `pid` as the candidate and name the 64-byte secp256k1 public key
        (x || y) its review and master key are sealed to (collector only)."""
        return self._send(sender, "set_candidate", [sid, Web3.to_checksum_address(pid), review_key])

    def submit_review(
        self,
        sender: LocalAccount,
        sid: int,
        indices: Sequence[int],
        cids: Sequence[bytes],
        key_hashes: Sequence[bytes],
        proofs: Sequence[Sequence[bytes]],
        ephemeral: bytes,
        sealed_keys: Sequence[bytes],
    ) -> TxResult:
        """Open the sampled leaves (cid, key hash) with their Merkle proofs and hand
        over their shard keys sealed to the review key (`seal_keys`, slot = the
        position in the sample) with the 64-byte ephemeral key (candidate only)."""
        args = [
            sid,
            list(indices),
            list(cids),
            list(key_hashes),
            [encode_proof(p) for p in proofs],
            ephemeral,
            list(sealed_keys),
        ]
        return self._send(sender, "submit_review", args)

    def dispute_review(
        self,
        sender: LocalAccount,
        sid: int,
        review_secret: int,
        ephemeral: bytes,
        sealed_keys: Sequence[bytes],
        key_hashes: Sequence[bytes],
        position: int,
    ) -> TxResult:
        """Prove the review wrong: the review key's secret opens the sealed key at
        `position` to a key that does not hash to its committed hash. `ephemeral`,
        `sealed_keys` and `key_hashes` are the SubmitReview event's (collector only)."""
        args = [sid, review_secret, ephemeral, list(sealed_keys), list(key_hashes), position]
        return self._send(sender, "dispute_review", args)

    def set_optimal(self, sender: LocalAccount, sid: int, pid: str) -> TxResult:
        """Promote the reviewed candidate `pid` to optimal provider (collector only)."""
        return self._send(sender, "set_optimal", [sid, Web3.to_checksum_address(pid)])

    def claim_reward(
        self, sender: LocalAccount, sid: int, ephemeral: bytes, sealed_master: bytes
    ) -> TxResult:
        """Deliver the master key sealed to the review key (`seal_master_key`), in one
        transaction. The reward is paid by claim_deposit once the complaint window
        has passed (optimal provider only)."""
        return self._send(sender, "claim_reward", [sid, ephemeral, sealed_master])

    def dispute_claim(
        self,
        sender: LocalAccount,
        sid: int,
        review_secret: int,
        ephemeral: bytes,
        sealed_master: bytes,
        index: int,
        cid: bytes,
        key_hash: bytes,
        proof: Sequence[bytes],
    ) -> TxResult:
        """Prove the master key wrong: the key it gives shard `index` does not hash to
        the committed `key_hash` of the leaf (cid, key_hash) that `proof` opens.
        `ephemeral` and `sealed_master` are the ClaimReward event's (collector only)."""
        args = [
            sid,
            review_secret,
            ephemeral,
            sealed_master,
            index,
            cid,
            key_hash,
            encode_proof(proof),
        ]
        return self._send(sender, "dispute_claim", args)

    def claim_deposit(self, sender: LocalAccount, sid: int) -> TxResult:
        """Once the session is settled, take what the policy gives this provider:
        its deposit unless forfeited, plus the reward or the compensation."""
        return self._send(sender, "claim_deposit", [sid])

    def claim_refund(self, sender: LocalAccount, sid: int) -> TxResult:
        """Once the session is settled without a deal, take back the reward less any
        compensation, plus any forfeited deposit (collector only)."""
        return self._send(sender, "claim_refund", [sid])

    # Getters, in the spec's vocabulary

    def session_count(self) -> int:
        """How many sessions the market holds; their sids are 0 .. count - 1."""
        return self.contract.functions.session_count().call()

    def get_config(self, sid: int) -> SessionConfig:
        """SC_config of session `sid`, as the spec's `SessionConfig`."""
        return SessionConfig(*self.contract.functions.get_config(sid).call())

    def get_session(self, sid: int) -> dict:
        """collector, st_trade, deadline, candidate, optimal, review_key (the review
        key's address), delivery_digest, review_submitted, review_rejected,
        claim_rejected, refund_claimed, provider_count."""
        return self._as_dict("get_session", self.contract.functions.get_session(sid).call())

    def get_profile(self, sid: int, pid: str) -> dict:
        """adr_data_root, sample_digest, sample_count, adr_feature, deposit_claimed."""
        raw = self.contract.functions.get_profile(sid, Web3.to_checksum_address(pid)).call()
        return self._as_dict("get_profile", raw)

    def balance(self) -> int:
        """Wei the market holds: every session's escrow."""
        return self.chain.balance(self.address)

    # Plumbing

    def _as_dict(self, fn_name: str, values) -> dict:
        (abi,) = [e for e in self.artifact.abi if e.get("name") == fn_name]
        names = [c["name"] for c in abi["outputs"][0]["components"]]
        return {n: _normalize(v) for n, v in zip(names, values, strict=True)}

    def _send(self, sender: LocalAccount, fn_name: str, args: list, value: int = 0) -> TxResult:
        data = self.contract.encode_abi(fn_name, args=args)
        receipt = self.chain.transact(sender, self.address, bytes.fromhex(data[2:]), value)
        return self._result(receipt)

    def _result(self, receipt) -> TxResult:
        return TxResult(
            tx_hash=receipt["transactionHash"].to_0x_hex(),
            gas_used=receipt["gasUsed"],
            fee_wei=receipt["gasUsed"] * receipt["effectiveGasPrice"],
            events=list(self.decode_events(receipt)),
            block_number=receipt["blockNumber"],
        )

    def decode_events(self, receipt) -> Iterator[Event]:
        """The market's events in a receipt, as the spec's `Event`s, in log order."""
        decoded = []
        for name in EVENT_NAMES:
            for log in getattr(self.contract.events, name)().process_receipt(
                receipt, errors=DISCARD
            ):
                args = {k: _normalize(v) for k, v in log["args"].items()}
                decoded.append((log["logIndex"], Event(name, args)))
        for _, event in sorted(decoded, key=lambda pair: pair[0]):
            yield event


def encode_proof(proof: Sequence[bytes]) -> list[bytes]:
    """A Merkle proof as submit_review's and dispute_claim's ABI carries it
    (DynArray[bytes32, 16]): the siblings as they are; a longer proof cannot be
    encoded at all."""
    if len(proof) > MAX_MERKLE_DEPTH:
        raise ValueError(
            f"a Merkle proof has at most {MAX_MERKLE_DEPTH} siblings, got {len(proof)}"
        )
    return list(proof)

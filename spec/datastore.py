"""F_DS: the immutable content-addressed datastore (paper 2.1: every accepted store
request returns the same data on every later retrieval).

key = sha256(bytes), a bytes32 digest: the same digest a CIDv1 (raw, sha2-256) names,
so the keys the contract stores (adr_theta, adr_feature) are the digests the real
IPFS-backed store (`hyperx.impl.datastore`) uses.
"""

import hashlib
from dataclasses import dataclass, field


def compute_datastore_key(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass
class Datastore:
    blobs: dict[bytes, bytes] = field(default_factory=dict)

    def store(self, data: bytes) -> bytes:
        key = compute_datastore_key(data)
        self.blobs[key] = bytes(data)
        return key

    def get(self, key: bytes) -> bytes:
        # Verify the key was stored
        assert key in self.blobs, f"hyperx: unknown datastore key {key.hex()}"
        return self.blobs[key]

    def has(self, key: bytes) -> bool:
        return key in self.blobs

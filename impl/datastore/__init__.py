"""F_DS, the content-addressed datastore: an embedded directory store and an IPFS node adapter.

May import the standard library, `multiformats`, `requests` and `ipfshttpclient` (never web3 or jax).
"""

from hyperx.impl.datastore.cid import (
    BlockCorruptError,
    BlockNotFoundError,
    DatastoreError,
    InvalidCidError,
    bytes32_to_cid,
    cid_to_bytes32,
    compute_cid,
    normalize_cid,
)
from hyperx.impl.datastore.ipfs import IpfsStore
from hyperx.impl.datastore.store import BLOCK_SIZE, Datastore, EmbeddedStore, compute_root_cid

__all__ = [
    "BLOCK_SIZE",
    "BlockCorruptError",
    "BlockNotFoundError",
    "Datastore",
    "DatastoreError",
    "EmbeddedStore",
    "InvalidCidError",
    "IpfsStore",
    "bytes32_to_cid",
    "cid_to_bytes32",
    "compute_cid",
    "compute_root_cid",
    "normalize_cid",
]

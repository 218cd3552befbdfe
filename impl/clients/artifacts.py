"""What the parties put on F_DS besides the assessor's files: dataset shards and the offer;
and the list of ciphertexts a collector keeps.

A shard is an .npz (no pickles) of `x` (images) and `y` (labels); a provider's
dataset is cut into exactly cf_shards shards of consecutive entries.

The offer is what adr_theta names: a small JSON document with the CID of the
obfuscated extractor and the collector's secp256k1 public key. Departure from the
paper (adr_theta names the extractor itself): providers seal their features to the
collector's public key, and an address alone does not give it; the offer carries
it, and a provider checks that it hashes to the session's collector address before
joining, so no one but the collector can open the sealed features.
"""

import io
import json
import struct

import numpy as np

from hyperx.impl.crypto import eth_address_from_public_key

OFFER_FORMAT = "hyperx-offer/1"


class ArtifactError(ValueError):
    """A shard or offer on the datastore is malformed; the message names which."""


def encode_shard(x: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.asarray(x, np.float32), y=np.asarray(y, np.int32))
    return buffer.getvalue()


def decode_shard(blob: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            x, y = archive["x"], archive["y"]
    except (OSError, ValueError, KeyError) as error:
        raise ArtifactError(f"{name} is not a HyperX shard ({error})") from None
    if x.ndim != 3 or y.shape != (len(x),):
        raise ArtifactError(
            f"{name} holds images {x.shape} and labels {y.shape}, which do not pair up"
        )
    return x, y


def split_into_shards(x: np.ndarray, y: np.ndarray, count: int) -> list[bytes]:
    """Cut the dataset into `count` shards of consecutive entries (sizes differ by at most one)."""
    if not 0 < count <= len(x):
        raise ArtifactError(f"cannot cut {len(x)} entries into {count} non-empty shards")
    return [encode_shard(x[part], y[part]) for part in np.array_split(np.arange(len(x)), count)]


def join_shards(shards: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([x for x, _ in shards]), np.concatenate([y for _, y in shards])


def encode_offer(extractor_cid: str, collector_public_key: bytes) -> bytes:
    body = {
        "format": OFFER_FORMAT,
        "extractor": extractor_cid,
        "collector_public_key": collector_public_key.hex(),
    }
    return json.dumps(body, sort_keys=True).encode()


def decode_offer(blob: bytes, collector: str) -> tuple[str, bytes]:
    """(extractor CID, collector public key) of an offer, checked against the session's collector."""
    try:
        body = json.loads(blob)
        if body.get("format") != OFFER_FORMAT:
            raise ValueError(f"format is {body.get('format')!r}")
        extractor, public_key = body["extractor"], bytes.fromhex(body["collector_public_key"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ArtifactError(
            f"the session's adr_theta does not name a HyperX offer ({error})"
        ) from None
    if eth_address_from_public_key(public_key).lower() != collector.lower():
        raise ArtifactError(
            f"the offer's public key does not belong to the session's collector {collector}"
        )
    return extractor, public_key


def encode_blobs(blobs: list[bytes]) -> bytes:
    """Byte strings in order, each after its 8-byte length (a collector's kept ciphertexts)."""
    return b"".join(struct.pack(">Q", len(blob)) + bytes(blob) for blob in blobs)


def decode_blobs(data: bytes, name: str) -> list[bytes]:
    blobs, offset = [], 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise ArtifactError(f"{name} is truncated")
        (length,) = struct.unpack_from(">Q", data, offset)
        offset += 8
        if offset + length > len(data):
            raise ArtifactError(f"{name} is truncated")
        blobs.append(data[offset : offset + length])
        offset += length
    return blobs

"""Serialized artifacts as bytes, ready for a content-addressed store.

Every artifact is flax msgpack of {"format", "sha256", "body"}: `body` is the msgpack
of the content and `sha256` its digest, so a truncated or altered file fails with a
one-line error instead of loading garbage. The artifact's own address is the SHA-256
of the whole bytes (`content_hash`). Kinds: m_init, extractor, secret, features, m_eval.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
from flax import serialization

from .errors import QualityError

FORMAT = "hyperx-quality/1"


def content_hash(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def dump(kind: str, content: dict) -> bytes:
    body = serialization.msgpack_serialize({"kind": kind, **content})
    return serialization.msgpack_serialize(
        {"format": FORMAT, "sha256": content_hash(body), "body": body}
    )


def load(blob: bytes, kind: str, name: str = "checkpoint") -> dict:
    """Parse and verify an artifact of the expected kind, or raise a one-line QualityError."""
    try:
        outer = serialization.msgpack_restore(blob)
        if not isinstance(outer, dict) or outer.get("format") != FORMAT:
            raise ValueError
        body = outer["body"]
    except Exception:  # msgpack raises several unrelated types on garbage
        raise QualityError(f"{name}: corrupted or not a HyperX {kind} file") from None
    if content_hash(body) != outer.get("sha256"):
        raise QualityError(f"{name}: corrupted (its content hash does not match)")
    content = serialization.msgpack_restore(body)
    if content.get("kind") != kind:
        raise QualityError(f"{name}: is a '{content.get('kind')}' file, expected a '{kind}' file")
    return content


def flatten_params(pure: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """{'layers': {0: {'kernel': a}}} -> {'layers/0/kernel': a}: string keys for msgpack."""
    flat = {}
    for key, value in pure.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_params(value, path + "/"))
        else:
            flat[path] = np.asarray(value)
    return flat


def unflatten_params(flat: dict[str, np.ndarray]) -> dict:
    pure: dict = {}
    for path, value in flat.items():
        node = pure
        *parents, leaf = [int(p) if p.isdigit() else p for p in path.split("/")]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = np.asarray(value)
    return pure


def write_bytes(path: str | Path, blob: bytes, secret: bool = False) -> None:
    """Write an artifact; a file the collector must keep secret is created with mode 0600."""
    path = Path(path)
    if secret:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(blob)
    else:
        path.write_bytes(blob)


def read_bytes(path: str | Path, what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise QualityError(f"{what} file {path} does not exist")
    return path.read_bytes()

"""F_DS: the content-addressed datastore interface, its block tree, and the embedded store.

`Datastore` gives both back ends (the embedded directory store here and the IPFS
node adapter in `ipfs.py`) the same `put`/`get`/`has`; a back end supplies only
how one raw block is written, read and looked up.

Tree format (paper §4.1, "a tree of data blocks under the shard root"). Content of
at most BLOCK_SIZE bytes is one raw block, so its CID is the one a real IPFS node
gives for those bytes. Longer content is cut into BLOCK_SIZE leaves, and the leaves
are linked under manifest blocks, each listing at most FANOUT children:

    MANIFEST_MAGIC + canonical JSON {"depth": d, "links": [[cid, size], ...], "size": n}

where `size` is the content length under the node, each link's size is the content
length under that child, and `depth` is 1 when the children are leaves and d-1
manifests otherwise. Manifests are raw blocks too, so every address, including the
root's, is a CIDv1 raw sha2-256 CID (one bytes32 on chain), and the same bytes give
the same root CID on every back end. A root block that starts with MANIFEST_MAGIC is
always a manifest: `put` stores short content that itself starts with the magic as
a one-leaf tree, so it cannot be mistaken for one.
"""

import abc
import json
import os
import tempfile
from pathlib import Path

from hyperx.impl.datastore.cid import (
    BlockCorruptError,
    BlockNotFoundError,
    DatastoreError,
    compute_cid,
    normalize_cid,
    verify_block,
)

BLOCK_SIZE = 256 * 1024
FANOUT = 1024
# Depth 4 already holds BLOCK_SIZE * FANOUT**4 = 256 PiB; the bound keeps a forged
# chain of manifests from recursing without end.
MAX_DEPTH = 8
MANIFEST_MAGIC = b"hyperx-tree/v1\n"


class Datastore(abc.ABC):
    """F_DS: `put` bytes, `get` them back by CID, verified block by block."""

    @abc.abstractmethod
    def _write_block(self, cid: str, data: bytes) -> None:
        """Store one raw block under `cid` (already computed from `data`)."""

    @abc.abstractmethod
    def _read_block(self, cid: str) -> bytes:
        """Return the stored bytes of one block, unverified; BlockNotFoundError if absent."""

    @abc.abstractmethod
    def _has_block(self, cid: str) -> bool:
        """Whether the block is held, without fetching it from elsewhere."""

    def put(self, data: bytes) -> str:
        """Store `data` and return its root CID (base32 CIDv1 raw sha2-256)."""
        data = bytes(data)
        if len(data) <= BLOCK_SIZE and not data.startswith(MANIFEST_MAGIC):
            return self._put_block(data)
        chunks = (data[start : start + BLOCK_SIZE] for start in range(0, len(data), BLOCK_SIZE))
        links = [[self._put_block(chunk), len(chunk)] for chunk in chunks]
        depth = 1
        while True:
            groups = [links[start : start + FANOUT] for start in range(0, len(links), FANOUT)]
            links = [
                [self._put_block(encode_manifest(depth, group)), sum(s for _, s in group)]
                for group in groups
            ]
            if len(links) == 1:
                return links[0][0]
            depth += 1

    def get(self, cid: str) -> bytes:
        """Return the content under `cid`, verifying every block against its CID."""
        cid = normalize_cid(cid)
        block = self._get_block(cid)
        if not block.startswith(MANIFEST_MAGIC):
            return block
        depth, links, size = decode_manifest(cid, block)
        content = b"".join(
            self._get_subtree(child, depth, child_size) for child, child_size in links
        )
        return _check_size(cid, content, size)

    def has(self, cid: str) -> bool:
        """Whether the root block of `cid` is held by this store."""
        return self._has_block(normalize_cid(cid))

    def _put_block(self, data: bytes) -> str:
        cid = compute_cid(data)
        self._write_block(cid, data)
        return cid

    def _get_block(self, cid: str) -> bytes:
        return verify_block(cid, self._read_block(cid))

    def _get_subtree(self, cid: str, parent_depth: int, size: int) -> bytes:
        block = self._get_block(cid)
        if parent_depth == 1:
            return _check_size(cid, block, size)
        depth, links, manifest_size = decode_manifest(cid, block)
        if depth != parent_depth - 1 or manifest_size != size:
            raise BlockCorruptError(
                f"manifest {cid} has depth {depth} and size {manifest_size};"
                f" its parent links it at depth {parent_depth - 1} with size {size}"
            )
        return b"".join(self._get_subtree(child, depth, child_size) for child, child_size in links)


class _Addresser(Datastore):
    """A store that keeps nothing: its `put` only computes the root CID."""

    def _write_block(self, cid: str, data: bytes) -> None:
        pass

    def _read_block(self, cid: str) -> bytes:
        raise BlockNotFoundError(f"block {cid} was never stored")

    def _has_block(self, cid: str) -> bool:
        return False


def compute_root_cid(data: bytes) -> str:
    """The root CID that `put(data)` returns on every back end, without storing anything."""
    return _Addresser().put(data)


def encode_manifest(depth: int, links: list[list]) -> bytes:
    """Return the manifest block linking `links` ([cid, size] pairs) at `depth`."""
    body = {"depth": depth, "links": links, "size": sum(size for _, size in links)}
    return MANIFEST_MAGIC + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def decode_manifest(cid: str, block: bytes) -> tuple[int, list[tuple[str, int]], int]:
    """Return (depth, [(child cid, size)], size) of a verified manifest block."""
    if not block.startswith(MANIFEST_MAGIC):
        raise DatastoreError(
            f"manifest {cid} is malformed: it does not start with {MANIFEST_MAGIC!r}"
        )
    try:
        body = json.loads(block[len(MANIFEST_MAGIC) :])
        depth, size = body["depth"], body["size"]
        links = [(normalize_cid(child), child_size) for child, child_size in body["links"]]
        well_formed = (
            isinstance(depth, int)
            and 1 <= depth <= MAX_DEPTH
            and 1 <= len(links) <= FANOUT
            and all(isinstance(s, int) and s >= 0 for _, s in links)
            and sum(s for _, s in links) == size
        )
    except (ValueError, KeyError, TypeError) as error:
        raise DatastoreError(f"manifest {cid} is malformed: {error}") from None
    if not well_formed:
        raise DatastoreError(f"manifest {cid} is malformed: bad depth, link count or sizes")
    return depth, links, size


def _check_size(cid: str, content: bytes, size: int) -> bytes:
    if len(content) != size:
        raise BlockCorruptError(f"block {cid} holds {len(content)} bytes, its manifest says {size}")
    return content


class EmbeddedStore(Datastore):
    """F_DS without a daemon: one file per block under `directory`/blocks.

    Files are named by CID and spread over sub-folders by the CID's next-to-last two
    characters (as IPFS's flatfs does); a block is written to a temporary file and
    renamed into place, so a killed process never leaves a half-written block.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.blocks = self.directory / "blocks"
        self.blocks.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.directory)!r})"

    def block_path(self, cid: str) -> Path:
        """Where the block `cid` lives on disk."""
        cid = normalize_cid(cid)
        return self.blocks / cid[-3:-1] / cid

    def _write_block(self, cid: str, data: bytes) -> None:
        path = self.block_path(cid)
        if path.is_file() and compute_cid(path.read_bytes()) == cid:
            return
        path.parent.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise

    def _read_block(self, cid: str) -> bytes:
        try:
            return self.block_path(cid).read_bytes()
        except FileNotFoundError:
            raise BlockNotFoundError(
                f"block {cid} is not in the store at {self.directory}"
            ) from None

    def _has_block(self, cid: str) -> bool:
        return self.block_path(cid).is_file()

"""CIDs of raw blocks and their bytes32 form on chain."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperx.impl.datastore import (
    BlockCorruptError,
    InvalidCidError,
    bytes32_to_cid,
    cid_to_bytes32,
    compute_cid,
    normalize_cid,
)
from hyperx.impl.datastore.cid import verify_block

# `ipfs block put --cid-codec raw` of b"hello" and of the empty block (Kubo and js-ipfs agree).
HELLO = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
EMPTY = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_known_cids():
    assert compute_cid(b"hello") == HELLO
    assert compute_cid(b"") == EMPTY


@given(st.binary(max_size=2048))
def test_bytes32_is_the_sha256_digest_and_inverts(data):
    cid = compute_cid(data)
    assert cid.startswith("bafkrei")
    assert cid_to_bytes32(cid) == hashlib.sha256(data).digest()
    assert bytes32_to_cid(cid_to_bytes32(cid)) == cid


def test_normalize_accepts_other_multibase_encodings():
    # The js-ipfs block/stat answer for b"hello": the same CID in base58btc.
    assert normalize_cid("zb2rhZfjRh2FHHB2RkHVEvL2vJnCTcu7kwRqgVsf9gpkLgteo") == HELLO
    assert normalize_cid(f"  {HELLO}\n") == HELLO


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "QmRN6wdp1S2A5EtjW9A3M1vKSBuQQGcgvuhoMUoEz4iiT5",
            "is a CIDv0 dag-pb sha2-256 CID; HyperX blocks are CIDv1 raw sha2-256",
        ),
        (
            "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
            "is a CIDv1 dag-pb sha2-256 CID",
        ),
        ("not a cid", "'not a cid' is not a CID"),
        (HELLO[:-1] + "x", "is not a CID"),
    ],
)
def test_rejects_foreign_or_malformed_cids(text, message):
    with pytest.raises(InvalidCidError, match=message):
        normalize_cid(text)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_rejects_digest_of_wrong_length(length):
    with pytest.raises(InvalidCidError, match=f"a CID digest is 32 bytes, got {length} bytes"):
        bytes32_to_cid(bytes(length))


def test_rejects_bytes_that_do_not_hash_to_the_cid():
    assert verify_block(HELLO, b"hello") == b"hello"
    with pytest.raises(
        BlockCorruptError,
        match=f"^block {HELLO} is corrupt: the 5 bytes returned hash to {compute_cid(b'jello')}$",
    ):
        verify_block(HELLO, b"jello")

"""Constants of Prot_SC, in one place, with their units.

Shared verbatim by the Vyper contract (`vyper_contracts/hyperx_market.vy`), the Z3
encoding and the clients; a change here is a change of the protocol.
"""

# Basis points: cf_pct is given in 1/10,000 (10% = 1,000 bps), so the contract
# needs no fractions. The paper's CF_% = cf_pct_bps / BPS.
BPS = 10_000

# Upper bound on a provider's shard count: the Merkle tree has depth <= 16.
MAX_SHARDS = 2**16
MAX_MERKLE_DEPTH = 16

# Upper bound on one sample (length of sample_data's index list, and of
# submit_review's key list): also bounded by cf_shards * cf_pct_bps / BPS.
# 128 keeps submit_review (128 indices, keys and 16-sibling proofs, about 74 KiB)
# under public mempools' 128 KiB transaction limit; and Vyper 0.4 reserves memory
# for an array argument at its bound, which costs 3w + w**2/512 gas for w words
# (about 650k gas for 1,024 proofs, 17k for 128).
MAX_SAMPLE = 128

# ClaimReward reveals the keys in chunks of CHUNK_SIZE keys, each an aligned subtree
# of the commitment. 2,048 keys are 64 KiB of calldata: a chunk stays under public
# mempools' 128 KiB transaction size limit and far under EIP-7825's 2**24 gas cap.
CHUNK_LOG2 = 11
CHUNK_SIZE = 2**CHUNK_LOG2

# K_data sealed to the collector's secp256k1 key (ECIES: 65-byte ephemeral key,
# 16-byte nonce, 16-byte tag, 32-byte key = 129 bytes) fits with room to spare.
MAX_SEALED_KEY_BYTES = 256

# Every period and how far ahead the evaluation deadline may lie, in seconds.
MAX_PERIOD_S = 365 * 24 * 3600

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = b"\x00" * 32

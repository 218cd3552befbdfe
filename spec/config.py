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
# submit_review's lists): also bounded by cf_shards * cf_pct_bps / BPS. 128 keeps
# submit_review (128 indices, content addresses, key hashes, sealed keys and
# 16-sibling proofs, about 82 KiB) under public mempools' 128 KiB transaction limit;
# and Vyper 0.4 reserves memory for an array argument at its bound, which costs
# 3w + w**2/512 gas for w words.
MAX_SAMPLE = 128

# The seal slot of the master key (sampled keys are sealed in slots 0..MAX_SAMPLE-1,
# their positions in the sample): one past every shard index, so no pad repeats.
MASTER_KEY_SLOT = MAX_SHARDS

# A secp256k1 point (review keys, ephemeral keys) is 64 bytes: x || y.
POINT_BYTES = 64

# Periods, in seconds. Every period (cf_review_s, cf_claim_s) and the time from
# creation to cf_evaluation_deadline lie in [MIN_PERIOD_S, MAX_PERIOD_S]. The floor
# is the protocol's: a party must see the other's move and have its own answer
# mined (a block or two, plus the node's finality) within one period, and a session
# with one-second periods lets a collector make the optimal provider miss its claim
# (issue 9, "robbed by short periods"). A provider sets its own, stricter floor in
# its join policy (`hyperx provider join --min-period-s`).
MIN_PERIOD_S = 300
MAX_PERIOD_S = 365 * 24 * 3600

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = b"\x00" * 32

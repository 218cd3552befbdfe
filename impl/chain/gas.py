"""`hyperx bench gas`: the gas of a trading session per shard count, beside the
paper's Table 1 (100 shards, a 10% sample), and of the two disputes.

Each shard count runs on a fresh embedded chain (eth-tester, py-evm): deploy; one
complete honest session (create_session, two providers register, are sampled and
submit features, one is reviewed, promoted and delivers its master key, and once
the complaint window has passed both take their deposits back, the optimal provider
its reward with it); then two sessions whose candidate delivers junk, each proven
wrong by the collector: a review whose last sealed key is junk (dispute_review at
the last position, so the contract hashes every sealed key of the sample) and a
junk master key (dispute_claim on the last shard, the longest proof). The data
and keys are built with the spec's functions (`hyperx.spec.sealing`,
`hyperx.spec.merkle`). Figures are receipts' gasUsed.
"""

import random
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from hyperx.spec import secp256k1
from hyperx.spec.config import BPS, MAX_SAMPLE, ZERO_HASH
from hyperx.spec.merkle import compute_leaf, get_merkle_depth, keccak256
from hyperx.spec.parties import get_dispute_claim_args
from hyperx.spec.sealing import (
    compute_key_hash,
    compute_shard_key,
    draw_ephemeral,
    seal_keys,
    seal_master_key,
)

from .connection import Chain, connect_embedded
from .market import Market

SAMPLE_PCT_BPS = 1_000  # the paper's 10% sample
REWARD_WEI = 10**18
DEPOSIT_WEI = 10**17
PERIOD_S = 3_600

# Table 1 of the paper (100 shards, Solidity 0.5.16, before EIP-2929).
PAPER_DEPLOY = 1_551_635
PAPER_100_SHARDS = {
    "create_session": 212_269,
    "registration": 2_329_764,
    "sample_data": 276_177,
    "submit_features": 92_626,
    "set_candidate": 64_240,
    "submit_review": 875_704,
    "set_optimal": 49_353,
    "claim_reward": 8_129_865,
    "claim_deposit": 35_079,
    "collector_total": 602_039,
    "provider_total": 2_457_469,
    "optimal_provider_total": 11_463_038,
}
# The goals of issue 3 at 100 shards, with issue 9's for claim_reward (at every
# shard count), registration (flat) and the optimal provider.
GOALS_100_SHARDS = {
    "create_session": 150_000,
    "registration": 120_000,
    "sample_data": 60_000,
    "submit_features": 60_000,
    "set_candidate": 64_240,
    "submit_review": 150_000,
    "set_optimal": 49_353,
    "claim_reward": 100_000,
    "claim_deposit": 45_000,
    "collector_total": 300_000,
    "provider_total": 250_000,
    "optimal_provider_total": 600_000,
}
GOAL_DEPLOY = 1_500_000
MAX_TX_GAS = 2**24  # EIP-7825
DISPUTE_ROWS = ("dispute_review", "dispute_claim")
ROWS = tuple(PAPER_100_SHARDS) + DISPUTE_ROWS


@dataclass(frozen=True)
class SessionGas:
    deploy: int
    rows: dict[str, int]


def compute_merkle_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the tree of `hyperx.spec.merkle`, leaves (padded with zero
    hashes to a power of two) first: one pass gives every proof, where the spec's
    compute_merkle_proof rebuilds the tree for each (128 proofs of 65,536 leaves)."""
    level = leaves + [ZERO_HASH] * (2 ** get_merkle_depth(len(leaves)) - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [
            keccak256(left + right) for left, right in zip(level[::2], level[1::2], strict=True)
        ]
        levels.append(level)
    return levels


@dataclass(frozen=True)
class Commitment:
    """A provider's dataset as the contract sees it: the shards' content addresses
    and key hashes (keys from one master key), and the Merkle tree over them."""

    master_key: bytes
    cids: list[bytes]
    key_hashes: list[bytes]
    levels: list[list[bytes]]

    @classmethod
    def draw(cls, rng: random.Random, n_shards: int) -> "Commitment":
        master_key = rng.randbytes(32)
        cids = [rng.randbytes(32) for _ in range(n_shards)]
        key_hashes = [compute_key_hash(compute_shard_key(master_key, i)) for i in range(n_shards)]
        leaves = [compute_leaf(c, h) for c, h in zip(cids, key_hashes, strict=True)]
        return cls(master_key, cids, key_hashes, compute_merkle_levels(leaves))

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        return [level[(index >> height) ^ 1] for height, level in enumerate(self.levels[:-1])]


class _Bench:
    """One embedded chain with the market, a collector and two providers."""

    def __init__(self, n_shards: int, seed: int):
        self.rng = random.Random(seed)
        self.n_shards = n_shards
        self.n_sample = max(1, min(MAX_SAMPLE, n_shards * SAMPLE_PCT_BPS // BPS))
        self.chain: Chain = connect_embedded()
        self.collector, self.optimal, self.regular = self.chain.accounts[:3]
        self.market, self.deployed = Market.deploy(self.chain, self.collector)
        self.data = {p.address: Commitment.draw(self.rng, n_shards) for p in self.providers}
        self.review_secret = secp256k1.derive_secret(self.rng.randbytes(32))
        self.review_key = secp256k1.compute_public_key(self.review_secret)
        self.samples: dict[tuple[int, str], list[int]] = {}

    @property
    def providers(self) -> tuple[LocalAccount, LocalAccount]:
        return self.optimal, self.regular

    def open(self, gas: dict, providers) -> int:
        """create_session; each of `providers` registers, is sampled and submits
        features; the optimal provider is named candidate. Returns the sid."""
        market, collector = self.market, self.collector
        created = market.create_session(
            collector,
            cf_reward=REWARD_WEI,
            cf_deposit=DEPOSIT_WEI,
            cf_pct_bps=SAMPLE_PCT_BPS,
            cf_shards=self.n_shards,
            cf_evaluation_deadline=self.chain.now() + PERIOD_S,
            cf_review_s=PERIOD_S,
            cf_claim_s=PERIOD_S,
            adr_theta=self.rng.randbytes(32),
        )
        sid = created.events[0].args["sid"]
        gas.setdefault("create_session", created.gas_used)
        for provider in providers:
            data = self.data[provider.address]
            manifest = self.rng.randbytes(32)
            registered = market.registration(
                provider, sid, data.root, self.n_shards, manifest, DEPOSIT_WEI
            )
            gas.setdefault("registration", registered.gas_used)
        for provider in providers:
            indices = sorted(self.rng.sample(range(self.n_shards), self.n_sample))
            self.samples[(sid, provider.address)] = indices
            sampled = market.sample_data(collector, sid, provider.address, indices)
            gas.setdefault("sample_data", sampled.gas_used)
        for provider in providers:
            featured = market.submit_features(provider, sid, self.rng.randbytes(32))
            gas.setdefault("submit_features", featured.gas_used)
        named = market.set_candidate(collector, sid, self.optimal.address, self.review_key)
        gas.setdefault("set_candidate", named.gas_used)
        return sid

    def review(self, gas: dict, sid: int, junk: bool = False):
        """The optimal provider's review, its last sealed key junk if `junk`;
        returns the SubmitReview event's arguments."""
        data = self.data[self.optimal.address]
        indices = self.samples[(sid, self.optimal.address)]
        ephemeral, sealed = seal_keys(
            self.review_key,
            [compute_shard_key(data.master_key, i) for i in indices],
            sid,
            list(range(len(indices))),
            draw_ephemeral(self.rng.randbytes(32)),
        )
        if junk:
            sealed[-1] = bytes(32)
        reviewed = self.market.submit_review(
            self.optimal,
            sid,
            indices,
            [data.cids[i] for i in indices],
            [data.key_hashes[i] for i in indices],
            [data.proof(i) for i in indices],
            ephemeral,
            sealed,
        )
        gas.setdefault("submit_review", reviewed.gas_used)
        return reviewed.events[0].args

    def promote_and_claim(self, gas: dict, sid: int, junk: bool = False):
        """set_optimal, then claim_reward with the master key (a junk one if
        `junk`); returns the ClaimReward event's arguments."""
        promoted = self.market.set_optimal(self.collector, sid, self.optimal.address)
        gas.setdefault("set_optimal", promoted.gas_used)
        master_key = bytes(32) if junk else self.data[self.optimal.address].master_key
        ephemeral, sealed_master = seal_master_key(
            self.review_key, master_key, sid, draw_ephemeral(self.rng.randbytes(32))
        )
        claimed = self.market.claim_reward(self.optimal, sid, ephemeral, sealed_master)
        gas.setdefault("claim_reward", claimed.gas_used)
        return claimed.events[0].args


def measure_session(n_shards: int, seed: int = 0) -> SessionGas:
    """One honest session and the two disputed ones with `n_shards` shards per
    provider; gas per row."""
    bench = _Bench(n_shards, seed)
    market, collector = bench.market, bench.collector
    gas: dict[str, int] = {}

    sid = bench.open(gas, bench.providers)
    bench.review(gas, sid)
    bench.promote_and_claim(gas, sid)
    bench.chain.time_travel(PERIOD_S)  # the complaint window passes
    gas["claim_deposit"] = market.claim_deposit(bench.optimal, sid).gas_used
    regular_deposit = market.claim_deposit(bench.regular, sid).gas_used

    sid = bench.open({}, [bench.optimal])
    review = bench.review({}, sid, junk=True)
    gas["dispute_review"] = market.dispute_review(
        collector,
        sid,
        bench.review_secret,
        review["ephemeral"],
        review["sealed_keys"],
        review["key_hashes"],
        len(review["sealed_keys"]) - 1,
    ).gas_used

    sid = bench.open({}, [bench.optimal])
    bench.review({}, sid)
    claim = bench.promote_and_claim({}, sid, junk=True)
    data = bench.data[bench.optimal.address]
    manifest = list(zip(data.cids, data.key_hashes, strict=True))
    dispute = get_dispute_claim_args(sid, bench.review_secret, claim, manifest, n_shards - 1)
    gas["dispute_claim"] = market.dispute_claim(collector, *dispute).gas_used

    gas["collector_total"] = (
        gas["create_session"] + gas["sample_data"] + gas["set_candidate"] + gas["set_optimal"]
    )
    gas["provider_total"] = gas["registration"] + gas["submit_features"] + regular_deposit
    gas["optimal_provider_total"] = (
        gas["registration"]
        + gas["submit_features"]
        + gas["submit_review"]
        + gas["claim_reward"]
        + gas["claim_deposit"]
    )
    return SessionGas(deploy=bench.deployed.gas_used, rows={row: gas[row] for row in ROWS})


def run_gas_benchmark(shard_counts: list[int]) -> dict:
    """The JSON of `hyperx bench gas`: {"deploy": N, "shards": {"100": {row: gas}}}."""
    results = {n: measure_session(n) for n in shard_counts}
    deploy = next(iter(results.values())).deploy
    return {"deploy": deploy, "shards": {str(n): r.rows for n, r in results.items()}}


def format_table(report: dict) -> str:
    """Rows per interface and party, one column per shard count, and at 100 shards
    the paper's figure and the goal beside ours."""
    counts = list(report["shards"])
    header = ["", *counts]
    with_paper = "100" in report["shards"]
    if with_paper:
        header += ["paper@100", "goal@100"]
    lines = [header]
    lines.append(
        ["deploy", str(report["deploy"]), *[""] * (len(counts) - 1)]
        + ([f"{PAPER_DEPLOY:,}", f"<= {GOAL_DEPLOY:,}"] if with_paper else [])
    )
    for row in ROWS:
        cells = [f"{report['shards'][n][row]:,}" for n in counts]
        if with_paper:
            paper, goal = PAPER_100_SHARDS.get(row), GOALS_100_SHARDS.get(row)
            cells += [f"{paper:,}" if paper else "-", f"<= {goal:,}" if goal else "-"]
        lines.append([row, *cells])
    lines[1][1] = f"{report['deploy']:,}"
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def plot_gas(report: dict, path: Path) -> None:
    """The paper's Figure 5 (gas per interface against shard count, log-log) with
    our measurements as solid lines and the paper's Table 1 points (100 shards) as
    crosses; the paper stored one hash per shard, so its O(n) rows are drawn as
    dotted lines through its point, proportional to n. The disputes are dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [int(n) for n in report["shards"]]
    linear_rows = {"registration", "sample_data", "submit_review", "claim_reward"}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, row in enumerate(ROWS):
        (line,) = ax.plot(
            counts,
            [report["shards"][str(n)][row] for n in counts],
            marker="o",
            linestyle="--" if row in DISPUTE_ROWS else "-",
            color=plt.cm.tab20(i),
            label=row,
        )
        if row not in PAPER_100_SHARDS:
            continue
        ax.plot([100], [PAPER_100_SHARDS[row]], marker="x", markersize=9, color=line.get_color())
        if row in linear_rows:
            ax.plot(
                counts,
                [PAPER_100_SHARDS[row] * n / 100 for n in counts],
                linestyle=":",
                color=line.get_color(),
            )
    ax.axhline(MAX_TX_GAS, color="black", linewidth=0.8, linestyle="--")
    ax.text(counts[0], MAX_TX_GAS * 1.1, "EIP-7825 transaction cap 2^24", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("shards per provider")
    ax.set_ylabel("gas")
    ax.set_title("HyperX market gas (o, solid) vs the paper's Table 1 (x, dotted: linear in n)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""`hyperx bench gas`: the gas of a full trading session per shard count, beside the
paper's Table 1 (100 shards, a 10% sample).

Each shard count runs one complete session on a fresh embedded chain (eth-tester,
py-evm): deploy, create_session, two providers register, are sampled and submit
features, one is reviewed, promoted and claims the reward (in chunks above
CHUNK_SIZE shards), both take their deposits back. Figures are receipts' gasUsed.
"""

import random
from dataclasses import dataclass
from pathlib import Path

from hyperx.spec.config import BPS, MAX_SAMPLE
from hyperx.spec.merkle import compute_merkle_proof, compute_merkle_root

from .connection import connect_embedded
from .market import Market, iter_reward_chunks

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
# The goals of issue 3 at 100 shards.
GOALS_100_SHARDS = {
    "create_session": 150_000,
    "registration": 120_000,
    "sample_data": 60_000,
    "submit_features": 60_000,
    "set_candidate": 64_240,
    "submit_review": 150_000,
    "set_optimal": 49_353,
    "claim_reward": 250_000,
    "claim_deposit": 45_000,
    "collector_total": 300_000,
    "provider_total": 250_000,
    "optimal_provider_total": 600_000,
}
GOAL_DEPLOY = 1_500_000
MAX_TX_GAS = 2**24  # EIP-7825
ROWS = tuple(PAPER_100_SHARDS) + ("claim_reward_max_tx",)


@dataclass(frozen=True)
class SessionGas:
    deploy: int
    rows: dict[str, int]


def _keys(rng: random.Random, n: int) -> list[bytes]:
    return [rng.randbytes(32) for _ in range(n)]


def measure_session(n_shards: int, seed: int = 0) -> SessionGas:
    """Run one full session with `n_shards` shards per provider; gas per row."""
    rng = random.Random(seed)
    chain = connect_embedded()
    collector, optimal, regular = chain.accounts[:3]
    market, deployed = Market.deploy(chain, collector)
    keys = {optimal.address: _keys(rng, n_shards), regular.address: _keys(rng, n_shards)}
    n_sample = max(1, min(MAX_SAMPLE, n_shards * SAMPLE_PCT_BPS // BPS))

    created = market.create_session(
        collector,
        cf_reward=REWARD_WEI,
        cf_deposit=DEPOSIT_WEI,
        cf_pct_bps=SAMPLE_PCT_BPS,
        cf_shards=n_shards,
        cf_evaluation_deadline=chain.now() + PERIOD_S,
        cf_review_s=PERIOD_S,
        cf_claim_s=PERIOD_S,
        adr_theta=rng.randbytes(32),
    )
    sid = created.events[0].args["sid"]
    gas = {"create_session": created.gas_used}
    samples = {}
    for provider in (optimal, regular):
        registered = market.registration(
            provider, sid, compute_merkle_root(keys[provider.address]), n_shards, DEPOSIT_WEI
        )
        gas.setdefault("registration", registered.gas_used)
    for provider in (optimal, regular):
        samples[provider.address] = sorted(rng.sample(range(n_shards), n_sample))
        sampled = market.sample_data(collector, sid, provider.address, samples[provider.address])
        gas.setdefault("sample_data", sampled.gas_used)
    for provider in (optimal, regular):
        gas.setdefault(
            "submit_features", market.submit_features(provider, sid, rng.randbytes(32)).gas_used
        )
    gas["set_candidate"] = market.set_candidate(collector, sid, optimal.address).gas_used
    indices = samples[optimal.address]
    all_keys = keys[optimal.address]
    gas["submit_review"] = market.submit_review(
        optimal,
        sid,
        indices,
        [all_keys[i] for i in indices],
        [compute_merkle_proof(all_keys, i) for i in indices],
        rng.randbytes(129),
    ).gas_used
    gas["set_optimal"] = market.set_optimal(collector, sid, optimal.address).gas_used
    chunk_gas = [
        market.claim_reward(optimal, sid, index, chunk, proof).gas_used
        for index, chunk, proof in iter_reward_chunks(all_keys)
    ]
    gas["claim_reward"] = sum(chunk_gas)
    gas["claim_reward_max_tx"] = max(chunk_gas)
    gas["claim_deposit"] = market.claim_deposit(optimal, sid).gas_used
    gas["claim_deposit_regular"] = market.claim_deposit(regular, sid).gas_used

    gas["collector_total"] = (
        gas["create_session"] + gas["sample_data"] + gas["set_candidate"] + gas["set_optimal"]
    )
    gas["provider_total"] = (
        gas["registration"] + gas["submit_features"] + gas.pop("claim_deposit_regular")
    )
    gas["optimal_provider_total"] = (
        gas["registration"]
        + gas["submit_features"]
        + gas["submit_review"]
        + gas["claim_reward"]
        + gas["claim_deposit"]
    )
    return SessionGas(deploy=deployed.gas_used, rows={row: gas[row] for row in ROWS})


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
            paper = PAPER_100_SHARDS.get(row)
            goal = GOALS_100_SHARDS.get(row, MAX_TX_GAS if row == "claim_reward_max_tx" else None)
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
    dotted lines through its point, proportional to n."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [int(n) for n in report["shards"]]
    linear_rows = {"registration", "sample_data", "submit_review", "claim_reward"}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, row in enumerate(PAPER_100_SHARDS):
        (line,) = ax.plot(
            counts,
            [report["shards"][str(n)][row] for n in counts],
            marker="o",
            color=plt.cm.tab20(i),
            label=row,
        )
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

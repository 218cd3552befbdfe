"""The gas benchmark's report (`hyperx bench gas`) and the contract's constants.

Figures are printed by the benchmark, never asserted as timings; these tests check
the report's shape, that its totals add up, that Registration does not grow with
the shard count (the Merkle commitment is O(1)), and that the contract mirrors
`hyperx.spec.config`."""

import json
import re

import typer
from typer.testing import CliRunner

from hyperx.impl.chain.cli import bench_gas
from hyperx.impl.chain.compile import read_source
from hyperx.impl.chain.gas import ROWS
from hyperx.spec import config


def test_contract_constants_mirror_the_spec():
    source = read_source()
    for name in (
        "BPS",
        "MAX_SHARDS",
        "MAX_MERKLE_DEPTH",
        "MAX_SAMPLE",
        "CHUNK_LOG2",
        "CHUNK_SIZE",
        "MAX_SEALED_KEY_BYTES",
        "MAX_PERIOD_S",
    ):
        match = re.search(rf"^{name}: constant\(uint256\) = ([\d_]+)$", source, re.M)
        assert match, name
        assert int(match.group(1).replace("_", "")) == getattr(config, name), name


def test_bench_gas_json_report_has_every_row_and_adds_up():
    app = typer.Typer()
    app.command()(bench_gas)
    result = CliRunner().invoke(app, ["--shards", "10,40", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"deploy", "shards"} and report["deploy"] > 0
    assert list(report["shards"]) == ["10", "40"]
    for rows in report["shards"].values():
        assert set(rows) == set(ROWS)
        assert rows["collector_total"] == (
            rows["create_session"]
            + rows["sample_data"]
            + rows["set_candidate"]
            + rows["set_optimal"]
        )
        assert rows["claim_reward_max_tx"] <= rows["claim_reward"]
    small, large = report["shards"]["10"], report["shards"]["40"]
    # One root per provider: the same gas whatever the shard count (to calldata noise).
    assert abs(large["registration"] - small["registration"]) <= 0.05 * small["registration"]


def test_bench_gas_rejects_bad_shard_counts_in_one_line():
    app = typer.Typer()
    app.command()(bench_gas)
    result = CliRunner().invoke(app, ["--shards", "10,5"])
    assert result.exit_code == 2  # bad input
    assert result.output.strip() == (
        "error: --shards values must lie in [10, 65536] (a 10% sample needs 10), got '10,5'"
    )

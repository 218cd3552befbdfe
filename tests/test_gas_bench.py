"""The gas benchmark's report (`hyperx bench gas`) and the contract's constants.

Figures are printed by the benchmark; these tests check the report's shape, that its
totals add up, that Registration and ClaimReward do not grow with the shard count
(one Merkle root, one sealed master key) and ClaimReward meets issue 9's goal, that
the benchmark's Merkle proofs are the spec's, and that the contract mirrors
`hyperx.spec.config` and the curve of `hyperx.spec.secp256k1`."""

import json
import random
import re

import pytest
import typer
from typer.testing import CliRunner

from hyperx.impl.chain.cli import bench_gas
from hyperx.impl.chain.compile import read_source
from hyperx.impl.chain.gas import GOALS_100_SHARDS, ROWS, Commitment
from hyperx.spec import config, secp256k1
from hyperx.spec.merkle import compute_leaf, compute_merkle_proof, compute_merkle_root


def _contract_constant(source: str, name: str) -> int:
    match = re.search(rf"^{name}: constant\(uint256\) = ([\d_]+)$", source, re.M)
    assert match, name
    return int(match.group(1).replace("_", ""))


def test_contract_constants_mirror_the_spec():
    source = read_source()
    shared = {
        name: value
        for name, value in vars(config).items()
        if name.isupper() and isinstance(value, int)
    }
    assert len(shared) >= 8
    for name, value in shared.items():
        assert _contract_constant(source, name) == value, name
    assert _contract_constant(source, "SECP256K1_N") == secp256k1.N
    assert _contract_constant(source, "SECP256K1_GX") == secp256k1.GX
    assert _contract_constant(source, "V_EVEN") == 27 + (secp256k1.GY & 1)


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
        assert rows["optimal_provider_total"] == (
            rows["registration"]
            + rows["submit_features"]
            + rows["submit_review"]
            + rows["claim_reward"]
            + rows["claim_deposit"]
        )
        assert rows["claim_reward"] <= GOALS_100_SHARDS["claim_reward"]
    small, large = report["shards"]["10"], report["shards"]["40"]
    # One root per provider and one sealed master key: the same gas whatever the
    # shard count (to calldata noise).
    for row in ("registration", "claim_reward"):
        assert abs(large[row] - small[row]) <= 0.05 * small[row], row


@pytest.mark.parametrize("n_shards", [1, 2, 3, 8, 33])
def test_bench_merkle_proofs_are_the_specs(n_shards):
    commitment = Commitment.draw(random.Random(n_shards), n_shards)
    leaves = [
        compute_leaf(c, h) for c, h in zip(commitment.cids, commitment.key_hashes, strict=True)
    ]
    assert commitment.root == compute_merkle_root(leaves)
    for index in range(n_shards):
        assert commitment.proof(index) == compute_merkle_proof(leaves, index)


def test_bench_gas_rejects_bad_shard_counts_in_one_line():
    app = typer.Typer()
    app.command()(bench_gas)
    result = CliRunner().invoke(app, ["--shards", "10,5"])
    assert result.exit_code == 2  # bad input
    assert result.output.strip() == (
        "error: --shards values must lie in [10, 65536] (a 10% sample needs 10), got '10,5'"
    )

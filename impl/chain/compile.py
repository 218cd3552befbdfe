"""Compile `vyper_contracts/hyperx_market.vy` with vyper's Python API.

One setting for every consumer (the CLI, the embedded chain, the tests, the gas
benchmark), so that the bytecode measured is the bytecode deployed.
"""

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import vyper
from vyper.compiler.settings import OptimizationLevel, Settings

MARKET_SOURCE = "hyperx_market.vy"
ATTACKER_SOURCE = "reentrant_provider.vy"

# Venom with size optimisation: the contract's guards carry long revert strings, and
# code deposit (200 gas per byte) dominates the deployment.
SETTINGS = Settings(optimize=OptimizationLevel.CODESIZE, experimental_codegen=True)


@dataclass(frozen=True)
class Artifact:
    """What a deployment and a client need from one contract."""

    name: str
    abi: list
    bytecode: str  # 0x-prefixed init code
    bytecode_runtime: str
    userdoc: dict
    devdoc: dict
    compiler: str


def read_source(filename: str = MARKET_SOURCE) -> str:
    return resources.files("hyperx.vyper_contracts").joinpath(filename).read_text()


def get_cache_dir() -> Path:
    """Compiled artifacts, keyed by source, compiler and settings ($HYPERX_CACHE_DIR,
    else the XDG cache): a client process starts without a 3-7 s compile."""
    root = os.environ.get("HYPERX_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "hyperx"
    )
    return Path(root) / "contracts"


@cache
def compile_contract(filename: str = MARKET_SOURCE) -> Artifact:
    source = read_source(filename)
    key = hashlib.sha256(f"{vyper.__version__}\n{SETTINGS}\n{source}".encode()).hexdigest()[:32]
    cached = get_cache_dir() / f"{Path(filename).stem}-{key}.json"
    try:
        return Artifact(**json.loads(cached.read_text()))
    except (OSError, ValueError, TypeError):
        pass  # absent or unreadable: compile afresh
    artifact = _compile(filename, source)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=cached.parent, delete=False, suffix=".tmp"
        ) as tmp:
            json.dump(asdict(artifact), tmp)
        os.replace(tmp.name, cached)
    except OSError:
        pass  # a read-only home only costs the next process a compile
    return artifact


def _compile(filename: str, source: str) -> Artifact:
    output = vyper.compile_code(
        source,
        contract_path=filename,
        output_formats=["abi", "bytecode", "bytecode_runtime", "userdoc", "devdoc"],
        settings=SETTINGS,
    )
    return Artifact(
        name=Path(filename).stem,
        abi=output["abi"],
        bytecode=output["bytecode"],
        bytecode_runtime=output["bytecode_runtime"],
        userdoc=output["userdoc"],
        devdoc=output["devdoc"],
        compiler=f"vyper {vyper.__version__}",
    )


def write_artifacts(out_dir: Path) -> list[Path]:
    """Write `<name>.json` (abi, bytecode, natspec) for the market; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = compile_contract()
    path = out_dir / f"{artifact.name}.json"
    path.write_text(json.dumps(asdict(artifact), indent=2) + "\n")
    return [path]

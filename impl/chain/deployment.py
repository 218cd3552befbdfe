"""Where a market lives: the deployment file, and the block a party follows it from.

`hyperx contract deploy --rpc … --out FILE` writes a deployment file: the market's
address, the chain id, the deployment block and transaction, and a hash of the
contract's ABI. A party given `--deployment FILE` checks it against the node (same
chain, code at the address) and against the contract it was built with (same ABI
hash), and reads the market's events from the deployment block on. Given only
`--market ADDRESS`, it finds the deployment block itself, by bisecting
`eth_getCode` over the chain's history (a node that keeps old state, as anvil and
archive nodes do); `--from-block N` overrides either.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from web3.exceptions import ContractLogicError, Web3Exception

from hyperx.impl.errors import BadInput

from .compile import compile_contract
from .connection import NODE_UNREACHABLE, Chain, check_address
from .market import Market

DEPLOYMENT_FORMAT = "hyperx-deployment/1"


def abi_hash(abi: list) -> str:
    """sha256 of the ABI as canonical JSON: the interface a deployment was built with."""
    return hashlib.sha256(
        json.dumps(abi, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


@dataclass(frozen=True)
class Deployment:
    address: str
    chain_id: int
    block: int
    tx_hash: str
    abi_sha256: str
    format: str = DEPLOYMENT_FORMAT

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path, option: str = "--deployment") -> "Deployment":
        try:
            body = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise BadInput(f"{option} {path}: no such file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise BadInput(f"{option} {path}: cannot read it ({error})") from None
        except json.JSONDecodeError:
            raise BadInput(
                f"{option} {path} is not JSON (a file `hyperx contract deploy --out` writes)"
            ) from None
        if not isinstance(body, dict) or body.get("format") != DEPLOYMENT_FORMAT:
            raise BadInput(f"{option} {path} is not a {DEPLOYMENT_FORMAT} deployment file")
        try:
            deployment = cls(**body)
        except TypeError:
            raise BadInput(f"{option} {path} lacks a field of {DEPLOYMENT_FORMAT}") from None
        if not (isinstance(deployment.block, int) and isinstance(deployment.chain_id, int)):
            raise BadInput(f"{option} {path}: block and chain_id must be integers")
        check_address(deployment.address, f"the address in {option} {path}")
        return deployment


@dataclass
class OpenedMarket:
    """A market checked against the node, and where its history starts."""

    market: Market
    start_block: int | None  # None: not asked for


def open_market(
    chain: Chain,
    market: str | None = None,
    deployment: Path | None = None,
    from_block: int | None = None,
    *,
    need_start: bool = False,
) -> OpenedMarket:
    """The market named by `--market` or `--deployment` (one of them), checked on `chain`.

    With `need_start`, also the first block to read its events from: `from_block`,
    else the deployment's block, else found on the chain. BadInput for anything the
    user named wrongly.
    """
    if (market is None) == (deployment is None):
        raise BadInput("give exactly one of --market ADDRESS or --deployment FILE")
    artifact = compile_contract()
    head = chain.w3.eth.block_number
    if from_block is not None and not 0 <= from_block <= head:
        raise BadInput(f"--from-block must be between 0 and the head, {head}; got {from_block}")
    record = None
    if deployment is not None:
        record = Deployment.read(deployment)
        if record.chain_id != chain.chain_id:
            raise BadInput(
                f"--deployment {deployment} is for chain {record.chain_id}, the node is chain"
                f" {chain.chain_id}"
            )
        if record.abi_sha256 != abi_hash(artifact.abi):
            raise BadInput(
                f"the market in {deployment} was built from another version of the contract"
                " (its ABI differs): deploy this version, or run the HyperX that deployed it"
            )
        address, option = check_address(record.address, "--deployment"), "--deployment"
    else:
        address, option = check_address(market, "--market"), "--market"
    opened = Market(chain, address, artifact)
    _check_is_market(chain, opened, option)
    start = from_block
    if start is None and need_start:
        start = record.block if record is not None else find_deployment_block(chain, address)
    return OpenedMarket(opened, start)


def _check_is_market(chain: Chain, market: Market, option: str) -> None:
    where = f"on chain {chain.chain_id}"
    if not chain.w3.eth.get_code(market.address):
        raise BadInput(f"no contract at {option} {market.address} {where}")
    try:
        market.session_count()
    except (ContractLogicError, Web3Exception, ValueError):
        raise BadInput(
            f"the contract at {option} {market.address} {where} is not a HyperX market"
        ) from None


def find_deployment_block(chain: Chain, address: str) -> int:
    """The first block with code at `address`, by bisection over eth_getCode."""
    low, high = 0, chain.w3.eth.block_number
    try:
        while low < high:
            middle = (low + high) // 2
            if chain.w3.eth.get_code(address, middle):
                high = middle
            else:
                low = middle + 1
    except NODE_UNREACHABLE:
        raise BadInput(
            f"the node cannot say when {address} was deployed (it keeps no old state):"
            " pass --deployment FILE or --from-block N"
        ) from None
    return low

"""F_BC with the Vyper contract executing every transaction: the spec's parties and
adversary (`hyperx.spec.schedule.World`), unchanged, driving Prot_SC on an EVM.

`EvmChain` is the spec's `Blockchain` with its execution swapped: each block's
transactions are sent to the contract on an EVM at the block's time, and their
success, revert reason, events, return value and payouts are read back from it
(payouts from the ClaimDeposit and ClaimRefund events, checked against the EVM's
balances). Balances are the EVM's, with the gas each party paid added back, so
payoffs are comparable with the spec's (which has no gas); the gas is reported
beside them. Reorganisations are not replayed here.

Two backends: titanoboa's embedded EVM (`embedded_world`), and a JSON-RPC dev node
such as anvil (`node_world_factory`: it funds the parties with `anvil_setBalance`,
turns automine off and mines each block with `evm_mine` at the block's timestamp).
`hyperx verify --economics` replays every strategy on them.
"""

from dataclasses import dataclass

import boa
from eth_abi import decode
from eth_account import Account
from web3 import HTTPProvider, Web3

from hyperx.impl.chain.compile import SETTINGS, compile_contract, read_source
from hyperx.spec.chain import CONTRACT_ADDRESS, Blockchain, Receipt, Transaction
from hyperx.spec.contract import Event
from hyperx.spec.schedule import World, party_secret

ERROR_SELECTOR = bytes.fromhex("08c379a0")
GAS_LIMIT = 8_000_000
FUNDS_WEI = 10**24
GAS_ALLOWANCE_WEI = 10**21  # far more than a world's transactions pay in fees


class EngineError(RuntimeError):
    """The engine cannot run (an unreachable node, not a dev chain): one line."""


@dataclass
class Executed:
    success: bool
    reason: str | None
    events: tuple[Event, ...]
    return_value: object
    gas_cost_wei: int


def _plain(value):
    """An EVM value as the spec writes it (lowercase addresses, lists)."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__str__") and type(value).__name__ == "Address":
        return str(value).lower()
    return value


def _checksummed(value):
    """A spec value as web3.py takes it (checksummed addresses)."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return Web3.to_checksum_address(value)
    if isinstance(value, (list, tuple)):
        return [_checksummed(v) for v in value]
    return value


def _transfers(events: tuple[Event, ...]) -> tuple[tuple[str, int], ...]:
    """What the call paid out, as its settlement event says."""
    paid = []
    for event in events:
        if event.name == "ClaimDeposit":
            paid.append((event.args["pid"], event.args["amount"]))
        elif event.name == "ClaimRefund":
            paid.append((event.args["collector"], event.args["amount"]))
    return tuple(paid)


class BoaBackend:
    """The contract on titanoboa's embedded EVM (a fresh environment per world)."""

    name = "evm"

    def __init__(self):
        self.env = boa.Env()
        with boa.swap_env(self.env):
            deployer = boa.loads_partial(
                read_source("hyperx_market.vy"),
                compiler_args={"experimental_codegen": SETTINGS.experimental_codegen},
            )
            self.contract = deployer.deploy()
        self.address = str(self.contract.address).lower()

    def fund(self, address: str, amount: int) -> None:
        self.env.set_balance(address, amount)

    def balance(self, address: str) -> int:
        return self.env.get_balance(address)

    def execute_block(self, timestamp: int, txs: list[Transaction]) -> list[Executed]:
        self.env.evm.patch.timestamp = timestamp
        return [self._execute(tx) for tx in txs]

    def _execute(self, tx: Transaction) -> Executed:
        fn = getattr(self.contract, tx.call.name)
        with boa.swap_env(self.env):
            try:
                result = fn(*tx.call.args, sender=tx.sender, value=tx.value)
            except boa.BoaError as error:
                return Executed(False, _boa_reason(error), (), None, 0)
            except (ValueError, TypeError, OverflowError) as error:  # not ABI-encodable
                return Executed(False, f"not encodable: {error}", (), None, 0)
            logs = self.contract.get_logs()
        events = tuple(Event(type(log).__name__, _log_args(log)) for log in logs)
        return Executed(True, None, events, result, 0)


def _boa_reason(error: boa.BoaError) -> str:
    data = error.stack_trace.last_frame.vm_error.args[0]
    if isinstance(data, bytes) and data[:4] == ERROR_SELECTOR:
        return decode(["string"], data[4:])[0]
    return "reverted"


def _log_args(log) -> dict:
    fields = log._asdict()
    fields.pop("address", None)
    return {k: _plain(v) for k, v in fields.items()}


class NodeBackend:
    """The contract on a JSON-RPC dev node (anvil): every party signs with its own
    key, a block is mined with `evm_mine` at the world's timestamp."""

    name = "rpc"

    def __init__(self, url: str):
        self.web3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
        try:
            self.web3.eth.chain_id  # noqa: B018 - the first call tells whether it answers
        except Exception as error:  # noqa: BLE001 - any failure to connect, in one line
            raise EngineError(f"--rpc {url}: no node answers ({type(error).__name__})") from None
        if not self._rpc("anvil_nodeInfo", fallible=True):
            raise EngineError(f"--rpc {url}: not an anvil dev node (no anvil_nodeInfo)")
        self._rpc("evm_setAutomine", False)
        self.allowance: dict[str, int] = {}
        artifact = compile_contract()
        deployer = Account.from_key(party_secret("deployer").to_bytes(32, "big"))
        self.fund(deployer.address, FUNDS_WEI)
        factory = self.web3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx = factory.constructor().build_transaction(self._envelope(deployer.address))
        tx_hash = self._send_signed(deployer, tx)
        self._rpc("evm_mine")
        receipt = self.web3.eth.get_transaction_receipt(tx_hash)
        self.address = receipt.contractAddress.lower()
        self.contract = self.web3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)
        self.keys: dict[str, Account] = {}

    def _rpc(self, method: str, *params, fallible: bool = False):
        response = self.web3.provider.make_request(method, list(params))
        if "error" in response:
            if fallible:
                return None
            raise EngineError(f"{method}: {response['error'].get('message')}")
        return response.get("result")

    def _envelope(self, sender: str) -> dict:
        return {
            "from": Web3.to_checksum_address(sender),
            "nonce": self.web3.eth.get_transaction_count(
                Web3.to_checksum_address(sender), "pending"
            ),
            "gas": GAS_LIMIT,
            "maxFeePerGas": 2 * self.web3.eth.get_block("latest").baseFeePerGas + 10**9,
            "maxPriorityFeePerGas": 10**9,
            "chainId": self.web3.eth.chain_id,
        }

    def _send_signed(self, account, tx: dict) -> bytes:
        signed = account.sign_transaction(tx)
        return self.web3.eth.send_raw_transaction(signed.raw_transaction)

    def register(self, name: str, address: str) -> None:
        account = Account.from_key(party_secret(name).to_bytes(32, "big"))
        assert account.address.lower() == address, "a party's address is its key's"
        self.keys[address] = account

    def fund(self, address: str, amount: int) -> None:
        """`amount`, plus GAS_ALLOWANCE_WEI the node's fees are paid from (a world's
        amounts are the protocol's, far below one transaction's fee at a real gas
        price); `balance` leaves the allowance out again."""
        self._rpc(
            "anvil_setBalance", Web3.to_checksum_address(address), hex(amount + GAS_ALLOWANCE_WEI)
        )
        self.allowance[address.lower()] = GAS_ALLOWANCE_WEI

    def latest_timestamp(self) -> int:
        return self.web3.eth.get_block("latest")["timestamp"]

    def balance(self, address: str) -> int:
        held = self.web3.eth.get_balance(Web3.to_checksum_address(address))
        return held - self.allowance.get(address.lower(), 0)

    def execute_block(self, timestamp: int, txs: list[Transaction]) -> list[Executed]:
        sent = []
        for tx in txs:
            account = self.keys[tx.sender]
            fn = getattr(self.contract.functions, tx.call.name)
            try:
                built = fn(*[_checksummed(a) for a in tx.call.args]).build_transaction(
                    {**self._envelope(tx.sender), "value": tx.value}
                )
            except (ValueError, TypeError, OverflowError) as error:
                sent.append((tx, None, f"not encodable: {error}"))
                continue
            sent.append((tx, self._send_signed(account, built), None))
        self._rpc("evm_mine", timestamp)
        results = []
        for _tx, tx_hash, refusal in sent:
            if tx_hash is None:
                results.append(Executed(False, refusal, (), None, 0))
                continue
            receipt = self.web3.eth.get_transaction_receipt(tx_hash)
            cost = receipt.gasUsed * receipt.effectiveGasPrice
            if receipt.status != 1:
                results.append(Executed(False, "reverted", (), None, cost))
                continue
            events = tuple(self._decode(receipt))
            value = next((e.args["sid"] for e in events if e.name == "CreateSession"), None)
            results.append(Executed(True, None, events, value, cost))
        return results

    def _decode(self, receipt):
        for event_abi in (e for e in self.contract.abi if e["type"] == "event"):
            decoded = self.contract.events[event_abi["name"]]().process_receipt(
                receipt, errors=_DISCARD
            )
            for log in decoded:
                yield Event(event_abi["name"], {k: _plain(v) for k, v in log.args.items()})


try:  # web3 8 names the log-processing flag this way
    from web3.logs import DISCARD as _DISCARD
except ImportError:  # pragma: no cover
    _DISCARD = "discard"


class EvmChain(Blockchain):
    """F_BC whose blocks are executed by the contract on `backend`."""

    def __init__(self, backend, **kwargs):
        self.backend = backend
        self.gas_paid: dict[str, int] = {}
        super().__init__(**kwargs)

    def fund(self, address: str, amount: int) -> None:
        """Genesis allocation: the spec's ledger, and the EVM account set to the same
        (a node's account may still hold what an earlier world left there)."""
        assert self.height == 0, "hyperx: accounts are funded at genesis"
        self.balances[address] = self.balances.get(address, 0) + amount
        self._snapshots[0] = self._snapshot()
        self.backend.fund(address, self.balances[address])

    def balance(self, address: str) -> int:
        """The EVM's balance, with the gas the party paid added back (`gas_paid`)."""
        if address == CONTRACT_ADDRESS:
            return self.backend.balance(self.backend.address)
        return self.backend.balance(address) + self.gas_paid.get(address, 0)

    def _execute_block(
        self, txs: list[Transaction], number: int, timestamp: int
    ) -> tuple[Receipt, ...]:
        receipts = []
        for tx, executed in zip(txs, self.backend.execute_block(timestamp, txs), strict=True):
            self.gas_paid[tx.sender] = self.gas_paid.get(tx.sender, 0) + executed.gas_cost_wei
            receipts.append(
                Receipt(
                    tx,
                    number,
                    executed.success,
                    executed.reason,
                    executed.events,
                    _transfers(executed.events),
                    executed.return_value,
                )
            )
        return tuple(receipts)

    def reorg(self, depth: int, *, requeue: bool = True):
        raise NotImplementedError("reorganisations are not replayed on an EVM engine")


def _world_on(backend) -> World:
    world = World(with_ideal=False)
    # A node's clock only moves forward: the world starts after its latest block
    start = max(world.chain.now, getattr(backend, "latest_timestamp", lambda: 0)() + 1)
    chain = EvmChain(backend, finality_depth=world.chain.finality_depth, genesis_time=start)
    for address, amount in world.chain.balances.items():
        if hasattr(backend, "register"):
            backend.register(world.name_of[address], address)
        chain.fund(address, amount)
    world.chain = chain
    world.initial = dict(chain.balances)
    return world


def embedded_world() -> World:
    """A world whose F_BC runs the contract on titanoboa's embedded EVM."""
    return _world_on(BoaBackend())


def node_world_factory(url: str):
    """Worlds whose F_BC runs the contract on the dev node at `url` (one deployment
    per world); EngineError if no anvil answers there."""
    NodeBackend(url)  # fail now, in one line, rather than in the middle of a run
    return lambda: _world_on(NodeBackend(url))

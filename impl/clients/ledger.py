"""What a client needs from F_BC, and its two back ends.

`Ledger` is the narrow surface the parties use: the head, the node's `finalized` or
`safe` block, block hashes and timestamps, the contract's decoded events in a block
range, an account's confirmed nonce, whether the node knows a transaction, and
sending a call of a Prot_SC interface (spec names and argument order,
`hyperx.spec.contract.INTERFACES`) with a dry run first and a given nonce; `send`
hands the signed transaction's hash to `note` before broadcasting it. Addresses are
lowercase hex throughout, as in the spec. For reports and tests, both also read a
session as the contract holds it (`get_session`) and the market's balance.

- `SpecLedger` runs over the spec's F_BC (`hyperx.spec.chain.Blockchain`), mining a
  block per transaction: the clients' logic can be stepped against the reference
  semantics, reorgs included.
- `Web3Ledger` (`hyperx.impl.clients.web3_ledger`) runs over the Vyper contract
  through web3.py: the embedded EVM or any JSON-RPC node.
"""

import copy
from dataclasses import dataclass, fields

from eth_account import Account as EthAccount

from hyperx.impl.clients.daemon import ChainEvent
from hyperx.spec.chain import CONTRACT_ADDRESS, Blockchain
from hyperx.spec.contract import INTERFACES, Msg, Session


@dataclass(frozen=True)
class Account:
    """A party's key: the address it signs as, and the secp256k1 private key (32 bytes)."""

    address: str
    private_key: bytes

    @classmethod
    def from_key(cls, private_key: str | bytes) -> "Account":
        account = EthAccount.from_key(private_key)
        return cls(account.address.lower(), bytes(account.key))

    @classmethod
    def create(cls) -> "Account":
        return cls.from_key(EthAccount.create().key)


@dataclass(frozen=True)
class TxReceipt:
    success: bool
    block_number: int
    reason: str | None
    gas_used: int = 0
    fee_wei: int = 0


class SpecLedger:
    """F_BC of the spec with automining: each sent transaction is mined in its own block."""

    chain_id = 0

    def __init__(self, blockchain: Blockchain | None = None, block_time_s: int = 1):
        self.blockchain = blockchain or Blockchain(finality_depth=1)
        self.block_time_s = block_time_s
        self.contract_address = CONTRACT_ADDRESS

    def head(self) -> int:
        return self.blockchain.height

    def tagged_block(self, tag: str) -> int | None:
        """F_BC has one notion of finality, a depth: it stands for both tags."""
        return self.blockchain.final_height

    def block_hash(self, number: int) -> str | None:
        if number > self.blockchain.height:
            return None
        block = self.blockchain.blocks[number]
        # The spec's blocks have no hash; their content (and timestamp) stands in for one.
        return f"{number}:{block.timestamp}:{[r.tx.tx_id for r in block.receipts]}"

    def timestamp(self, number: int) -> int:
        return self.blockchain.blocks[number].timestamp

    def events(self, first: int, last: int) -> list[ChainEvent]:
        found = []
        for block in self.blockchain.blocks[first : last + 1]:
            for receipt in block.receipts:
                if receipt.success:
                    for index, event in enumerate(receipt.events):
                        found.append(
                            ChainEvent(
                                event.name,
                                dict(event.args),
                                block.number,
                                self.block_hash(block.number),
                                _tx_hash(receipt.tx.tx_id),
                                index,
                            )
                        )
        return found

    def simulate(self, account: Account, interface: str, args: list, value: int) -> str | None:
        state = copy.deepcopy(self.blockchain.contract)
        msg = Msg(sender=account.address, value=value, now=self.blockchain.now + self.block_time_s)
        try:
            INTERFACES[interface](state, msg, *args)
        except AssertionError as revert:
            return str(revert)
        return None

    def send(
        self,
        account: Account,
        interface: str,
        args: list,
        value: int,
        *,
        nonce: int | None = None,
        note=lambda tx_hash, fees: None,
        outbid: list | None = None,
    ) -> str:
        """F_BC has no nonces, no fees and mines at once: `nonce` and `outbid` do nothing here."""
        tx = self.blockchain.submit(account.address, value, interface, *args)
        note(_tx_hash(tx.tx_id), None)
        self.blockchain.mine(self.blockchain.now + self.block_time_s)
        return _tx_hash(tx.tx_id)

    def nonce(self, address: str) -> int:
        """What a nonce would be: the account's transactions on the chain as it stands."""
        return sum(
            receipt.tx.sender == address
            for block in self.blockchain.blocks
            for receipt in block.receipts
        )

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        tx_id = int(tx_hash, 16)
        for block in self.blockchain.blocks:
            for receipt in block.receipts:
                if receipt.tx.tx_id == tx_id:
                    return TxReceipt(receipt.success, block.number, receipt.reason)
        return None

    def is_known(self, tx_hash: str) -> bool:
        return self.receipt(tx_hash) is not None or any(
            tx.tx_id == int(tx_hash, 16) for tx in self.blockchain.mempool
        )

    def balance(self, address: str) -> int:
        return self.blockchain.balance(address)

    def market_balance(self) -> int:
        return self.blockchain.balance(CONTRACT_ADDRESS)

    def get_session(self, sid: int) -> dict:
        """The session's moving parts, as `Market.get_session` names them."""
        session = self.blockchain.contract.sessions[sid]
        state = {f.name: getattr(session, f.name) for f in fields(Session)}
        del state["config"], state["profiles"]
        return state | {"st_trade": int(session.st_trade)}

    def client_version(self) -> str:
        return "hyperx-spec F_BC"

    def transaction_count(self, number: int) -> int:
        return len(self.blockchain.blocks[number].receipts) if number <= self.head() else 0

    def advance_time(self, seconds: int) -> None:
        self.blockchain.mine(self.blockchain.now + seconds)

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.blockchain.mine()


def _tx_hash(tx_id: int) -> str:
    return f"0x{tx_id:064x}"

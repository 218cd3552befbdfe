"""F_BC: the blockchain as an abstract service hosting Prot_SC (paper 2.1, 2.3, Figure 4).

Accounts with balances; transactions carrying a sender, a value and a call of one
Prot_SC interface; a public mempool that anyone can read before inclusion (the
front-running gap of paper 3.3: the collector sees ClaimReward's keys there first);
blocks with timestamps; finality once a block is `finality_depth` blocks deep; and
reorganisations that drop non-final blocks and either put their transactions back
in the mempool or drop them (Figure 4).

A transaction executes with EVM semantics: a failing `assert` in the interface
reverts every effect (the value stays with the sender) and the receipt records the
reason; a success moves the value in, applies the state change, then pays out.
Gas is not modelled: balances here are net of fees.
"""

import copy
from dataclasses import dataclass, field

from .config import ZERO_ADDRESS
from .contract import INTERFACES, PAYABLE, Address, Event, MarketState, Msg

CONTRACT_ADDRESS: Address = "0x" + "c0" * 20


@dataclass(frozen=True)
class Call:
    """One interface of Prot_SC with its arguments, as plain data."""

    name: str
    args: tuple

    def __post_init__(self):
        # Verify the call names an interface
        assert self.name in INTERFACES, f"hyperx: unknown interface {self.name!r}"


@dataclass(frozen=True)
class Transaction:
    tx_id: int
    sender: Address
    value: int
    call: Call


@dataclass(frozen=True)
class Receipt:
    tx: Transaction
    block_number: int
    success: bool
    reason: str | None
    events: tuple[Event, ...]
    transfers: tuple[tuple[Address, int], ...]
    return_value: object = None


@dataclass(frozen=True)
class Block:
    number: int
    timestamp: int
    receipts: tuple[Receipt, ...]


@dataclass
class _Snapshot:
    balances: dict[Address, int]
    contract: MarketState


@dataclass
class Blockchain:
    """F_BC. Block 0 is genesis; `now` is the head block's timestamp."""

    finality_depth: int = 2
    genesis_time: int = 0
    # Prot_SC's transitions; a mutated copy of the spec can be swapped in
    interfaces: dict = field(default_factory=lambda: dict(INTERFACES))
    balances: dict[Address, int] = field(default_factory=dict)
    contract: MarketState = field(default_factory=MarketState)
    mempool: list[Transaction] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    _snapshots: list[_Snapshot] = field(default_factory=list)
    _next_tx_id: int = 0
    _finalized: int = 0  # the highest block ever final: finality never goes back

    def __post_init__(self):
        # Verify finality is at least one block deep
        assert self.finality_depth >= 1, "hyperx: finality depth must be at least 1"
        self.blocks.append(Block(0, self.genesis_time, ()))
        self._snapshots.append(self._snapshot())

    # Reading the chain

    @property
    def height(self) -> int:
        return self.blocks[-1].number

    @property
    def now(self) -> int:
        return self.blocks[-1].timestamp

    @property
    def final_height(self) -> int:
        """The highest block no reorganisation can drop. It only grows: a
        reorganisation shortens the chain, but what was final stays final."""
        return max(self._finalized, self.height - self.finality_depth)

    def is_final(self, block_number: int) -> bool:
        return block_number <= self.final_height

    def balance(self, address: Address) -> int:
        return self.balances.get(address, 0)

    def pending(self) -> list[Transaction]:
        """The public mempool: every observer may read it before inclusion."""
        return list(self.mempool)

    def receipts(self, *, final_only: bool = True) -> list[Receipt]:
        last = self.final_height if final_only else self.height
        return [r for b in self.blocks[1 : last + 1] for r in b.receipts]

    def events(self, *, final_only: bool = True) -> list[tuple[int, Event]]:
        """(block number, event) of every successful call, oldest first."""
        return [
            (r.block_number, e)
            for r in self.receipts(final_only=final_only)
            if r.success
            for e in r.events
        ]

    # Acting on the chain

    def fund(self, address: Address, amount: int) -> None:
        """Genesis allocation (only before the first block)."""
        # Verify the chain has not started
        assert self.height == 0, "hyperx: accounts are funded at genesis"
        self.balances[address] = self.balance(address) + amount
        self._snapshots[0] = self._snapshot()

    def submit(self, sender: Address, value: int, name: str, *args) -> Transaction:
        """Broadcast a transaction to the mempool."""
        # Verify the sender is an account (no key signs for address 0)
        assert sender != ZERO_ADDRESS, "hyperx: no transaction comes from address 0"
        # Verify only payable interfaces take value
        assert value >= 0 and (value == 0 or name in PAYABLE), f"hyperx: {name} is not payable"
        tx = Transaction(self._next_tx_id, sender, value, Call(name, tuple(args)))
        self._next_tx_id += 1
        self.mempool.append(tx)
        return tx

    def mine(self, timestamp: int | None = None, include: list[int] | None = None) -> Block:
        """Append a block holding the mempool transactions whose ids are in `include`
        (in that order; default: the whole mempool in order). Others stay pending."""
        timestamp = self.now + 1 if timestamp is None else timestamp
        # Verify time moves forward
        assert timestamp > self.now, "hyperx: block timestamps must increase"
        by_id = {tx.tx_id: tx for tx in self.mempool}
        chosen = (
            [by_id[i] for i in include if i in by_id] if include is not None else list(self.mempool)
        )
        chosen_ids = {tx.tx_id for tx in chosen}
        self.mempool = [tx for tx in self.mempool if tx.tx_id not in chosen_ids]
        number = self.height + 1
        receipts = self._execute_block(chosen, number, timestamp)
        block = Block(number, timestamp, receipts)
        self.blocks.append(block)
        if any(r.success for r in receipts):
            self._snapshots.append(self._snapshot())
        else:
            # Nothing changed the contract: share the last snapshot (reorg copies it)
            self._snapshots.append(_Snapshot(dict(self.balances), self._snapshots[-1].contract))
        self._finalized = self.final_height
        return block

    def reorg(self, depth: int, *, requeue: bool = True) -> list[Transaction]:
        """Drop the last `depth` blocks (none of them final). Their transactions go
        back to the front of the mempool, or are lost when `requeue` is false."""
        # Verify only non-final blocks are dropped
        assert 0 < depth <= self.height and self.height - depth >= self.final_height, (
            "hyperx: a reorganisation cannot drop final blocks"
        )
        dropped = [r.tx for b in self.blocks[-depth:] for r in b.receipts]
        del self.blocks[-depth:]
        del self._snapshots[-depth:]
        restored = self._snapshots[-1]
        self.balances = dict(restored.balances)
        self.contract = copy.deepcopy(restored.contract)
        if requeue:
            self.mempool = dropped + self.mempool
        return dropped

    # Execution

    def _execute_block(
        self, txs: list[Transaction], number: int, timestamp: int
    ) -> tuple[Receipt, ...]:
        """The receipts of a block's transactions, executed in order (an EVM engine
        executes them on the contract instead: `hyperx.impl.chain.engine`)."""
        return tuple(self._execute(tx, number, timestamp) for tx in txs)

    def _execute(self, tx: Transaction, number: int, timestamp: int) -> Receipt:
        if self.balance(tx.sender) < tx.value:
            return Receipt(tx, number, False, "insufficient balance", (), ())
        state = copy.deepcopy(self.contract)
        msg = Msg(sender=tx.sender, value=tx.value, now=timestamp)
        try:
            result = self.interfaces[tx.call.name](state, msg, *tx.call.args)
        except AssertionError as revert:
            return Receipt(tx, number, False, str(revert), (), ())
        self.contract = state
        self.balances[tx.sender] -= tx.value
        self.balances[CONTRACT_ADDRESS] = self.balance(CONTRACT_ADDRESS) + tx.value
        for to, amount in msg.transfers:
            # Verify the contract never pays out more than it holds
            assert self.balances[CONTRACT_ADDRESS] >= amount, "hyperx: contract insolvent"
            self.balances[CONTRACT_ADDRESS] -= amount
            self.balances[to] = self.balance(to) + amount
        return Receipt(tx, number, True, None, tuple(msg.events), tuple(msg.transfers), result)

    def _snapshot(self) -> _Snapshot:
        return _Snapshot(dict(self.balances), copy.deepcopy(self.contract))

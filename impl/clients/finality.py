"""When a block counts for a party, and when it is final: the one rule every party follows.

- A party **acts** on an event, and counts a transaction of its own as mined, once
  its block is `confirmations` deep: at or below head - confirmations (the
  *acting block*). What it did is journaled, and undone if a reorganisation drops
  the block.
- A block is **final** once it is at or below the node's `finalized` block (or its
  `safe` block, `tag="safe"`) where the node answers that tag, and never above the
  acting block; on a node that answers neither tag (or with `tag=None`), final is
  the acting block itself.
- A party exits only when everything it acted on is final: the events whose handling
  changed its state, and the receipts of its own transactions.

anvil answers `safe` and `finalized` as 32 and 64 blocks below the head (two
epochs of 32 slots; `--slots-in-an-epoch` changes it), a proof-of-stake node as its
consensus client says, eth-tester as the head itself.
"""

from dataclasses import dataclass

TAGS = ("finalized", "safe")


@dataclass(frozen=True)
class Finality:
    confirmations: int = 1  # blocks above an event's block before the party acts on it
    tag: str | None = "finalized"  # "finalized", "safe", or None: the acting block is final

    def __post_init__(self):
        if self.confirmations < 0:
            raise ValueError(f"confirmations must be at least 0, got {self.confirmations}")
        if self.tag not in (*TAGS, None):
            raise ValueError(f"the finality tag must be one of {TAGS} or None, got {self.tag!r}")

    def acting_block(self, head: int) -> int:
        return head - self.confirmations

    def final_block(self, ledger, head: int) -> int:
        """The newest final block, given the chain's head (see the module docstring)."""
        acting = self.acting_block(head)
        tagged = ledger.tagged_block(self.tag) if self.tag else None
        return acting if tagged is None else min(acting, tagged)

    def describe(self) -> str:
        depth = f"{self.confirmations} confirmation{'s' if self.confirmations != 1 else ''}"
        return depth if self.tag is None else f"{depth}, final at the node's {self.tag} block"

"""Development chains that mine on demand: the blocks finality needs, and the clock.

anvil and hardhat mine a block only when a transaction arrives, so the newest
block never gets the confirmations a party waits for, and a deadline passes only
in real time. With `--dev` (only on a development chain: `require_dev_chain`), a
party that has nothing to do
- mines empty blocks until every block holding a transaction is at the acting
  block, and, once it is done, until what it acted on is final (the finality rule,
  `hyperx.impl.clients.finality`), in one `anvil_mine` / `hardhat_mine` call where
  the node has it;
- if it drives the clock (the collector; `Party.clock_ready`) and the chain has been
  quiet for `quiet_s` (no new block with a transaction), moves the chain's clock to
  its next deadline (`evm_increaseTime` + `evm_mine`).
Providers never move the clock: on a development chain, the session's clock is its
collector's. One process running every party (`hyperx session run`) sees when all
are idle and needs no quiet period.
"""

import logging
import time

from hyperx.impl.errors import BadInput

log = logging.getLogger("hyperx.clients")

DEV_CLIENTS = ("anvil", "hardhat", "ganache")
IN_PROCESS_CLIENTS = ("ethereumtester", "hyperx-spec")  # the embedded EVM, the spec's F_BC
DEV_CHAIN_IDS = (31337, 1337)


def dev_client(ledger) -> str | None:
    """The development node's name if the ledger's node is one (client and chain id agree)."""
    version = ledger.client_version().lower()
    if any(client in version for client in IN_PROCESS_CLIENTS):
        return version
    name = next((client for client in DEV_CLIENTS if client in version), None)
    return name if name is not None and ledger.chain_id in DEV_CHAIN_IDS else None


def require_dev_chain(ledger, who: str = "--dev") -> None:
    """BadInput unless the ledger's node is a development chain; `who` asked to mine."""
    if dev_client(ledger) is None:
        raise BadInput(
            f"{who} mines blocks and moves the clock, which only a development chain"
            f" allows (anvil, hardhat: chain id {' or '.join(map(str, DEV_CHAIN_IDS))});"
            f" the node is {ledger.client_version()!r} on chain {ledger.chain_id}"
        )


class DevClock:
    """Mines and moves time for parties that wait on a development chain."""

    def __init__(self, ledger, quiet_s: float = 10.0):
        self.ledger = ledger
        self.quiet_s = quiet_s
        self._scanned = -1  # blocks up to here are looked at (at most 256 back, at first)
        self._busy_block = -1  # the newest block seen holding a transaction
        self._busy_since = time.monotonic()

    def _watch(self) -> int:
        """The head, after noting the newest block that holds a transaction."""
        head = self.ledger.head()
        for number in range(max(self._scanned + 1, head - 256), head + 1):
            if self.ledger.transaction_count(number):
                self._busy_block, self._busy_since = number, time.monotonic()
        self._scanned = head
        return head

    def mine_for(self, parties) -> bool:
        """Mine what the parties' next steps wait on; True if a block was mined."""
        head = self._watch()
        wanted = 0
        for party in parties:
            finality = getattr(party, "finality", None)
            if finality is None:
                continue
            acting = finality.acting_block(head)
            if self._busy_block > acting:
                wanted = max(wanted, self._busy_block - acting)
            block = party.waiting_for_finality()
            if block is not None:
                wanted = max(wanted, block - finality.final_block(self.ledger, head))
        if wanted <= 0:
            return False
        log.info(
            "dev chain: mined %d block%s for confirmations and finality", wanted, "s"[: wanted > 1]
        )
        self.ledger.mine(wanted)
        self._scanned = self.ledger.head()  # our own blocks are empty
        return True

    def is_quiet(self) -> bool:
        self._watch()
        return time.monotonic() - self._busy_since >= self.quiet_s

    def skip_to(self, deadline: int) -> bool:
        """Move the clock just past `deadline` (a chain timestamp); False if it has passed."""
        now = self.ledger.timestamp(self.ledger.head())
        if deadline < now:
            return False
        log.info(
            "dev chain: quiet; moved the clock %d s ahead, past a deadline", deadline - now + 1
        )
        self.ledger.advance_time(deadline - now + 1)
        return True

"""The machinery both parties share: follow the contract's events, send intents.

`Party.step()` is one turn of a client's loop (paper Figure 3, "Daemon Watching"):
1. reorg check: the hashes of the recent blocks the party handled are compared with
   the chain's; from the first that differs, blocks are forgotten, their events will
   be handled again, and intents mined there are watched again;
2. events of the blocks at least `confirmations` deep, in chain order, each handled
   once (the handler's decisions and the mark commit in one SQLite transaction);
3. timeouts: `on_timers(now)` with the timestamp of the newest confirmed block
   (EndEvaluation, SessionTimeout);
4. intents: each decided transaction is simulated, sent, and watched until its
   receipt is `confirmations` deep; one that vanished from the chain (a reorg
   dropped it, paper Figure 4) is sent again; one whose revert reason says it is
   already done counts as done.
"""

import logging
from dataclasses import dataclass

from hyperx.impl.clients.state import FAILED, FINAL, NEW, SENT, Intent, StateStore

log = logging.getLogger("hyperx.clients")

# Recent block hashes kept to notice a reorg; deeper reorgs are not expected on
# any chain HyperX runs on (Ethereum finalizes within 64 blocks).
REORG_WINDOW = 64


@dataclass(frozen=True)
class ChainEvent:
    """A decoded contract log: the interface's event name and arguments."""

    name: str
    args: dict
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    @property
    def event_id(self) -> str:
        return f"{self.tx_hash}:{self.log_index}"


class PartyError(RuntimeError):
    """A client cannot go on; the message is one line saying why."""


class Party:
    """A client: subclasses handle events (`on_<EventName>`) and timeouts (`on_timers`)."""

    role = "party"

    def __init__(self, chain, account, state: StateStore, confirmations: int = 0):
        self.chain = chain  # hyperx.impl.clients.ledger.Ledger
        self.account = account  # hyperx.impl.clients.ledger.Account
        self.state = state
        self.confirmations = confirmations

    @property
    def address(self) -> str:
        return self.account.address

    # One turn

    def step(self) -> bool:
        """Handle what is new; True if anything happened (an event, a timeout, a transaction)."""
        head = self.chain.head()
        safe = head - self.confirmations
        progressed = self._check_reorg()
        cursor = self.state.cursor()
        if safe > cursor:
            for event in self.chain.events(cursor + 1, safe):
                if self.state.is_handled(event.event_id):
                    continue
                with self.state.transaction(), self.state.journaling(event.block_number):
                    handler = getattr(self, f"on_{event.name}", None)
                    if handler is not None:
                        log.debug("%s %s handles %s", self.role, self.address[:10], event.name)
                        handler(event)
                    self.state.mark_handled(event.event_id, event.block_number, event.block_hash)
                progressed = True
            self.state.record_block(safe, self.chain.block_hash(safe), REORG_WINDOW)
        if safe >= 0:
            with self.state.transaction(), self.state.journaling(safe):
                progressed |= bool(self.on_timers(self.chain.timestamp(safe)))
        progressed |= self._send_intents(head)
        return progressed

    def _check_reorg(self) -> bool:
        """Rewind to the newest recorded block still on the chain, if the newest is not.

        One hash per turn is enough: a block's hash commits to its ancestors, so if the
        newest block handled is still on the chain, so is everything before it.
        """
        recorded = self.state.recent_blocks()
        if (
            not recorded
            or not recorded[-1][1]
            or self.chain.block_hash(recorded[-1][0]) == recorded[-1][1]
        ):
            return False
        kept = -1
        for number, known_hash in reversed(recorded[:-1]):
            if known_hash and self.chain.block_hash(number) == known_hash:
                kept = number
                break
        log.warning(
            "%s %s: reorg; handling events again from block %d",
            self.role,
            self.address[:10],
            kept + 1,
        )
        with self.state.transaction():
            self.state.forget_from(kept + 1)
        return True

    # Decisions

    def intend(self, name: str, interface: str, *args, value: int = 0) -> None:
        """Decide to call `interface(*args)` once; `name` makes the decision idempotent."""
        self.state.add_intent(name, interface, list(args), value)

    def on_timers(self, now: int) -> bool:
        return False

    def gas(self) -> tuple[int, int]:
        """(gas used, fee in wei) of this party's mined transactions."""
        used = fee = 0
        for intent in self.state.intents(FINAL, SENT, FAILED):
            receipt = self.chain.receipt(intent.tx_hash) if intent.tx_hash else None
            if receipt is not None:
                used, fee = used + receipt.gas_used, fee + receipt.fee_wei
        return used, fee

    # Revert reasons that, for a call already attempted, mean an earlier attempt
    # landed: the state moved on past the point the call was made for.
    ALREADY_DONE = (
        "already registered",
        "already sampled",
        "already submitted",
        "already claimed",
        "chunk out of order",
        "session is not pending",
        "session is not reviewing",
        "session is not reviewed",
    )

    def is_done_already(self, intent: Intent) -> bool:
        """For calls that are not idempotent on chain (create_session): did it land?"""
        return False

    def _send_intents(self, head: int) -> bool:
        # In order, one at a time: a decision waits until the one before it is mined,
        # so the nonces follow the decisions (claim_reward's chunks must arrive in order).
        progressed = False
        for intent in self.state.intents(NEW, SENT):
            progressed |= self._advance(intent, head)
            latest = self.state.intent(intent.name)
            if latest.status == SENT and self.chain.receipt(latest.tx_hash) is None:
                break
        return progressed

    def _advance(self, intent: Intent, head: int) -> bool:
        if intent.status == SENT:
            receipt = self.chain.receipt(intent.tx_hash)
            if receipt is None:
                if self.chain.is_pending(intent.tx_hash):
                    return False
                log.warning(
                    "%s %s: %s was dropped from the chain; sending it again",
                    self.role,
                    self.address[:10],
                    intent.name,
                )
            elif receipt.success:
                status = FINAL if receipt.block_number <= head - self.confirmations else SENT
                self.state.update_intent(
                    intent.name, status=status, block_number=receipt.block_number
                )
                return status == FINAL
            else:
                return self._refused(intent, receipt.reason or "reverted")
        if intent.status == NEW and intent.attempts > 0 and self.is_done_already(intent):
            # An earlier process sent it and died before noting the hash.
            self.state.update_intent(intent.name, status=FINAL, detail="done by an earlier attempt")
            return True
        reason = self.chain.simulate(self.account, intent.interface, intent.args, intent.value)
        if reason is not None:
            return self._refused(intent, reason)
        # The attempt is noted before the send: a process killed in between comes back
        # knowing the call may be on chain, and reads a revert as "done already".
        self.state.update_intent(intent.name, attempts=intent.attempts + 1)
        tx_hash = self.chain.send(self.account, intent.interface, intent.args, intent.value)
        self.state.update_intent(intent.name, status=SENT, tx_hash=tx_hash, block_number=head)
        log.info(
            "%s %s: sent %s (%s)", self.role, self.address[:10], intent.interface, tx_hash[:12]
        )
        return True

    def _refused(self, intent: Intent, reason: str) -> bool:
        if intent.attempts > 0 and any(done in reason for done in self.ALREADY_DONE):
            self.state.update_intent(intent.name, status=FINAL, detail=reason)
        else:
            log.warning("%s %s: %s refused: %s", self.role, self.address[:10], intent.name, reason)
            self.state.update_intent(intent.name, status=FAILED, detail=reason)
        return True

    def intent_status(self, name: str) -> str | None:
        intent = self.state.intent(name)
        return None if intent is None else intent.status

    def pending_intents(self) -> list[Intent]:
        return self.state.intents(NEW, SENT)

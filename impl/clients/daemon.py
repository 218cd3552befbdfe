"""The machinery both parties share: follow the contract's events, send intents.

`Party.step()` is one turn of a client's loop (paper Figure 3, "Daemon Watching"),
under the finality rule of `hyperx.impl.clients.finality`:
1. reorg check: the hashes of the recent blocks the party handled are compared with
   the chain's; from the first that differs, what handling those blocks changed is
   undone, their events will be handled again, and intents mined there are watched
   again;
2. events up to the acting block, in chain order, at most LOG_RANGE blocks a turn,
   each handled once (the handler's decisions and the mark commit in one SQLite
   transaction);
3. timeouts: `on_timers(now)` with the timestamp of the chain's latest block
   (EndEvaluation, SessionTimeout): a transaction sent now lands at or after it;
4. intents, in the order decided, one at a time: each is simulated, signed, noted
   with its nonce and hash, then broadcast, and watched until its receipt is at the
   acting block. One the node no longer knows (neither mined nor pending: a reorg or
   the pool dropped it) is sent again, but only after the already-done checks, and
   with the same nonce while that nonce is unused, so the original and its re-send
   can never both land.

A party has settled (`is_settled`) when it is done (`is_done`, the protocol's
say) and everything it acted on is final.
"""

import logging
from dataclasses import dataclass

from hyperx.impl.clients.finality import Finality
from hyperx.impl.clients.state import FAILED, MINED, NEW, SENT, Intent, StateStore

log = logging.getLogger("hyperx.clients")

# Recent block hashes kept to notice a reorg, beyond those above the final block.
REORG_WINDOW = 64
# Blocks whose logs are read in one request: public nodes cap eth_getLogs ranges.
LOG_RANGE = 2_000


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


class SendRefused(Exception):
    """The node would not take a signed transaction (`reason` is its answer)."""

    def __init__(self, reason: str, *, fatal: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal  # e.g. no funds: sending again will not help


class Party:
    """A client: subclasses handle events (`on_<EventName>`) and timeouts (`on_timers`)."""

    role = "party"

    def __init__(
        self,
        chain,
        account,
        state: StateStore,
        confirmations: int = 0,
        *,
        finality: Finality | None = None,
    ):
        self.chain = chain  # hyperx.impl.clients.ledger.Ledger
        self.account = account  # hyperx.impl.clients.ledger.Account
        self.state = state
        if not state.is_unlocked:
            state.unlock(account.private_key)  # secrets at rest, under this party's key
        self.finality = finality or Finality(confirmations)
        self.final_block = -1  # as of the last turn

    @property
    def confirmations(self) -> int:
        return self.finality.confirmations

    @property
    def address(self) -> str:
        return self.account.address

    def _say(self, level: int, message: str, *args) -> None:
        log.log(level, "%s %s: " + message, self.role, self.address[:10], *args)

    # One turn

    def step(self) -> bool:
        """Handle what is new; True if anything happened (an event, a timeout, a transaction)."""
        head = self.chain.head()
        acting = self.finality.acting_block(head)
        self.final_block = self.finality.final_block(self.chain, head)
        progressed = self._check_reorg()
        progressed |= self._follow(acting)
        if acting >= 0:
            with self.state.transaction(), self.state.journaling(acting):
                progressed |= bool(self.on_timers(self.chain.timestamp(head)))
        progressed |= self._send_intents(acting)
        return progressed

    def _follow(self, acting: int) -> bool:
        """Handle the events of the next blocks up to `acting`; True if any, or more to read."""
        cursor = self.state.cursor()
        if acting <= cursor:
            return False
        last = min(acting, cursor + LOG_RANGE)
        handled = False
        for event in self.chain.events(cursor + 1, last):
            if self.state.is_handled(event.event_id):
                continue
            with self.state.transaction(), self.state.journaling(event.block_number):
                handler = getattr(self, f"on_{event.name}", None)
                if handler is not None:
                    log.debug("%s %s handles %s", self.role, self.address[:10], event.name)
                    handler(event)
                self.state.mark_handled(event.event_id, event.block_number, event.block_hash)
            handled = True
        forget_below = min(self.final_block, last - REORG_WINDOW)
        self.state.record_block(last, self.chain.block_hash(last), forget_below)
        return handled or last < acting

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
        kept = recorded[0][0] - 1 if recorded[0][1] else recorded[0][0]
        for number, known_hash in reversed(recorded[:-1]):
            if known_hash and self.chain.block_hash(number) == known_hash:
                kept = number
                break
        self._say(logging.WARNING, "reorg; handling events again from block %d", kept + 1)
        with self.state.transaction():
            self.state.forget_from(kept + 1)
        return True

    # Settling

    def is_done(self) -> bool:
        """The protocol has nothing left for this party (subclasses say when)."""
        return False

    def is_final(self) -> bool:
        """Nothing is in flight, and every block this party acted on is final."""
        if self.state.intents(NEW, SENT):
            return False
        newest = self.state.newest_acted_block()
        return newest is None or newest <= self.final_block

    def is_settled(self) -> bool:
        return self.is_done() and self.is_final()

    def waiting_for_finality(self) -> int | None:
        """The block that must become final before this party can leave, if that is all it waits for."""
        if not self.is_done() or self.state.intents(NEW, SENT):
            return None
        newest = self.state.newest_acted_block()
        return newest if newest is not None and newest > self.final_block else None

    # Decisions

    def intend(self, name: str, interface: str, *args, value: int = 0) -> None:
        """Decide to call `interface(*args)` once; `name` makes the decision idempotent."""
        self.state.add_intent(name, interface, list(args), value)

    def on_timers(self, now: int) -> bool:
        return False

    def deadlines(self) -> list[int]:
        """Chain timestamps at which `on_timers` will act (subclasses say which)."""
        return []

    def clock_ready(self) -> bool:
        """On a development chain, may this party move the clock to its next deadline?
        (`hyperx.impl.clients.devchain`; only the collector ever does.)"""
        return False

    def gas(self) -> tuple[int, int]:
        """(gas used, fee in wei) of this party's mined transactions."""
        used = fee = 0
        for intent in self.state.intents(MINED, SENT, FAILED):
            receipt = self.chain.receipt(intent.tx_hash) if intent.tx_hash else None
            if receipt is not None:
                used, fee = used + receipt.gas_used, fee + receipt.fee_wei
        return used, fee

    # Revert reasons that, for a call one of whose transactions may have landed, mean
    # it did: the state moved on past the point the call was made for.
    ALREADY_DONE = (
        "already registered",
        "already sampled",
        "already submitted",
        "already claimed",
        "session is not pending",
        "session is not reviewing",
        "session is not reviewed",
    )

    def is_done_already(self, intent: Intent) -> bool:
        """For calls that are not idempotent on chain (create_session): did it land?

        Asked before a transaction is sent again when the chain cannot show any of
        its attempts (the node forgot them, or another transaction took the nonce).
        """
        return False

    def find_events(self, name: str, **args) -> list[ChainEvent]:
        """This market's `name` events with these arguments, from where this party started."""
        found, first, head = [], self.state.start_block(), self.chain.head()
        while first <= head:
            last = min(head, first + LOG_RANGE - 1)
            found += [
                event
                for event in self.chain.events(first, last)
                if event.name == name and all(event.args.get(k) == v for k, v in args.items())
            ]
            first = last + 1
        return found

    # Sending

    def _send_intents(self, acting: int) -> bool:
        # In order, one at a time: a decision waits until the one before it is mined,
        # so the nonces follow the decisions.
        progressed = False
        for intent in self.state.intents(NEW, SENT):
            progressed |= self._advance(intent, acting)
            latest = self.state.intent(intent.name)
            if latest.status == NEW or (
                latest.status == SENT and self._mined_attempt(latest) is None
            ):
                break
        return progressed

    def _mined_attempt(self, intent: Intent):
        """(tx hash, receipt) of the attempt of `intent` that was mined, if one was."""
        for tx_hash in reversed(intent.hashes):
            receipt = self.chain.receipt(tx_hash)
            if receipt is not None:
                return tx_hash, receipt
        return None

    def _advance(self, intent: Intent, acting: int) -> bool:
        nonce = None
        if intent.status == SENT:
            mined = self._mined_attempt(intent)
            if mined is not None:
                return self._mined(intent, *mined, acting)
            if any(self.chain.is_known(tx_hash) for tx_hash in intent.hashes):
                return False  # pending, or being mined right now: its receipt comes next
            nonce_free = self.chain.nonce(self.address) <= intent.nonce
            if not nonce_free and self._landed_already(intent):
                return True
            self._say(
                logging.WARNING,
                "%s (%s) is neither mined nor pending; sending it again%s",
                intent.name,
                intent.tx_hash[:12],
                " with the same nonce" if nonce_free else "",
            )
            nonce = intent.nonce if nonce_free else None
        reason = self.chain.simulate(self.account, intent.interface, intent.args, intent.value)
        if reason is not None:
            return self._refused(intent, reason)
        return self._send(intent, self._next_nonce(intent) if nonce is None else nonce)

    def _mined(self, intent: Intent, tx_hash: str, receipt, acting: int) -> bool:
        if not receipt.success:
            self.state.update_intent(intent.name, tx_hash=tx_hash)
            return self._refused(intent, receipt.reason or "reverted", receipt.block_number)
        deep = receipt.block_number <= acting
        self.state.update_intent(
            intent.name,
            status=MINED if deep else SENT,
            tx_hash=tx_hash,
            block_number=receipt.block_number,
        )
        return deep

    def _landed_already(self, intent: Intent) -> bool:
        """The nonce of `intent` is used, by no attempt the node can show: did it land anyway?"""
        reason = self.chain.simulate(self.account, intent.interface, intent.args, intent.value)
        if self.is_done_already(intent) or (
            reason is not None and any(done in reason for done in self.ALREADY_DONE)
        ):
            detail = "done: its nonce was used and the chain shows the call made"
            self.state.update_intent(intent.name, status=MINED, detail=detail)
            self._say(logging.INFO, "%s %s", intent.name, detail)
            return True
        return False

    def _next_nonce(self, intent: Intent) -> int:
        """The confirmed nonce, past those this party's other transactions hold in the pool."""
        nonce = self.chain.nonce(self.address)
        held = {
            other.nonce
            for other in self.state.intents(SENT)
            if other.name != intent.name
            and other.nonce is not None
            and any(self.chain.is_known(tx_hash) for tx_hash in other.hashes)
        }
        while nonce in held:
            nonce += 1
        return nonce

    def _send(self, intent: Intent, nonce: int) -> bool:
        def note(tx_hash: str, fees) -> None:
            self.state.note_attempt(intent.name, tx_hash, nonce, fees)

        # An attempt at the same nonce outbids the one it replaces, wherever that one is.
        outbid = intent.fees if intent.nonce == nonce else None
        try:
            tx_hash = self.chain.send(
                self.account,
                intent.interface,
                intent.args,
                intent.value,
                nonce=nonce,
                note=note,
                outbid=outbid,
            )
        except SendRefused as refusal:
            if refusal.fatal:
                raise PartyError(
                    f"{self.role} {self.address} cannot send {intent.name}: {refusal.reason}"
                ) from None
            self._say(logging.WARNING, "the node refused %s: %s", intent.name, refusal.reason)
            return False
        self._say(logging.INFO, "sent %s (%s, nonce %d)", intent.interface, tx_hash[:12], nonce)
        return True

    def _refused(self, intent: Intent, reason: str, block_number: int | None = None) -> bool:
        # A refusal means "done" only if one of this intent's transactions may have
        # landed, that is if it was sent and its nonce is used.
        may_have_landed = bool(intent.hashes) and self.chain.nonce(self.address) > (
            intent.nonce or 0
        )
        if may_have_landed and any(done in reason for done in self.ALREADY_DONE):
            self.state.update_intent(intent.name, status=MINED, detail=reason)
        else:
            self._say(logging.WARNING, "%s refused: %s", intent.name, reason)
            self.state.update_intent(
                intent.name, status=FAILED, detail=reason, block_number=block_number
            )
        return True

    def intent_status(self, name: str) -> str | None:
        intent = self.state.intent(name)
        return None if intent is None else intent.status

    def pending_intents(self) -> list[Intent]:
        return self.state.intents(NEW, SENT)

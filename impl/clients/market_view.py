"""The market as its events tell it: `hyperx market status`.

Sessions, their state and deadlines (the complaint window after ClaimReward
included), each provider's stage, deposits, payouts and forfeits, folded from the
contract's events in chain order. CreateSession opens a session; `EFFECTS` maps
every other event to what it does to its session; an event without an entry changes
nothing, so a new event of the protocol is one more entry there. Whether a session
has settled (its deadline passed: expired, or a complaint window over) is the one
thing events cannot say: it is read against the latest block's timestamp.
"""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from hyperx.impl.clients.daemon import LOG_RANGE, ChainEvent


@dataclass
class ProviderView:
    address: str
    stage: str = "registered"
    deposit_wei: int = 0  # paid in at registration
    returned_wei: int | None = (
        None  # ClaimDeposit: the deposit back, plus any reward or compensation
    )
    reward_wei: int = 0  # the part of ClaimDeposit's payout above the deposit
    forfeited: bool = False  # a dispute proved it wrong: its deposit goes to the collector


@dataclass
class SessionView:
    sid: int
    collector: str
    reward_wei: int
    deposit_wei: int
    pct_bps: int
    shards: int
    evaluation_deadline: int
    review_s: int
    claim_s: int
    created_block: int
    state: str = "pending"  # pending, reviewing, reviewed, closed; how it ended, on reading
    deadline: int = 0  # the end of the current state (the contract's session deadline)
    candidate: str | None = None
    optimal: str | None = None
    review_rejected: bool = False
    claim_rejected: bool = False
    refund_wei: int | None = None
    providers: dict[str, ProviderView] = field(default_factory=dict)

    def provider(self, event: ChainEvent) -> ProviderView:
        pid = event.args["pid"]
        return self.providers.setdefault(pid, ProviderView(pid))

    def describe(self, now: int) -> str:
        """The state as the events and the clock tell it (the complaint window included)."""
        if self.state == "closed":
            if self.claim_rejected:
                return "closed, claim disputed"
            return "closed" if now >= self.deadline else "closed, complaint window open"
        if self.review_rejected:
            return "review disputed"
        return f"expired while {self.state}" if now >= self.deadline else self.state


def _create_session(event: ChainEvent) -> SessionView:
    a = event.args
    return SessionView(
        a["sid"],
        a["collector"],
        a["cf_reward"],
        a["cf_deposit"],
        a["cf_pct_bps"],
        a["cf_shards"],
        a["cf_evaluation_deadline"],
        a["cf_review_s"],
        a["cf_claim_s"],
        event.block_number,
        deadline=a["cf_evaluation_deadline"] + a["cf_review_s"],
    )


def _registration(session: SessionView, event: ChainEvent, _) -> None:
    session.provider(event).deposit_wei = session.deposit_wei


def _stage(stage: str, state: str | None = None):
    """The provider named moves to `stage`, the session to `state`; the event's
    deadline, if it has one, is the session's new deadline."""

    def effect(session: SessionView, event: ChainEvent, _) -> None:
        session.provider(event).stage = stage
        session.state = state or session.state
        session.deadline = event.args.get("deadline", session.deadline)

    return effect


def _set_candidate(session: SessionView, event: ChainEvent, timestamp: int) -> None:
    _stage("candidate", "reviewing")(session, event, timestamp)
    session.candidate = event.args["pid"]


def _set_optimal(session: SessionView, event: ChainEvent, timestamp: int) -> None:
    _stage("optimal", "reviewed")(session, event, timestamp)
    session.optimal = event.args["pid"]


def _dispute(stage: str, flag: str):
    """A dispute proved the provider wrong: it forfeits, the session settles at once."""

    def effect(session: SessionView, event: ChainEvent, timestamp: int) -> None:
        provider = session.provider(event)
        provider.stage, provider.forfeited = stage, True
        setattr(session, flag, True)
        session.deadline = timestamp

    return effect


def _claim_deposit(session: SessionView, event: ChainEvent, _) -> None:
    provider = session.provider(event)
    provider.returned_wei = event.args["amount"]
    provider.reward_wei = event.args["amount"] - session.deposit_wei
    if provider.reward_wei:
        provider.stage = "paid" if event.args["pid"] == session.optimal else "compensated"


def _claim_refund(session: SessionView, event: ChainEvent, _) -> None:
    session.refund_wei = event.args["amount"]


# Event -> its effect on its session (the session, the event, its block's timestamp).
EFFECTS = {
    "Registration": _registration,
    "SampleData": _stage("sampled"),
    "SubmitFeatures": _stage("features"),
    "SetCandidate": _set_candidate,
    "SubmitReview": _stage("reviewed"),
    "DisputeReview": _dispute("review disputed", "review_rejected"),
    "SetOptimal": _set_optimal,
    "ClaimReward": _stage("claimed", "closed"),  # the complaint window opens
    "DisputeClaim": _dispute("claim disputed", "claim_rejected"),
    "ClaimDeposit": _claim_deposit,
    "ClaimRefund": _claim_refund,
}


class MarketView:
    """The events of one market (a `Ledger`'s) from `start_block`, folded; `update()`
    reads what is new."""

    def __init__(self, ledger, start_block: int):
        self.ledger = ledger
        self.market_address = ledger.contract_address
        self.start_block = start_block
        self._reset()

    def _reset(self) -> None:
        self.sessions: dict[int, SessionView] = {}
        self.cursor = self.start_block - 1
        self.cursor_hash: str | None = None
        self._timestamps: dict[int, int] = {}

    def update(self) -> None:
        """Fold the events up to the head; after a reorg below the cursor, fold again."""
        if self.cursor_hash is not None and self.ledger.block_hash(self.cursor) != self.cursor_hash:
            self._reset()
        head = self.ledger.head()
        while self.cursor < head:
            last = min(head, self.cursor + LOG_RANGE)
            for event in self.ledger.events(self.cursor + 1, last):
                self.apply(event)
            self.cursor = last
        self.cursor_hash = self.ledger.block_hash(self.cursor)
        self.now = self.ledger.timestamp(head)

    def apply(self, event: ChainEvent) -> None:
        if event.name == "CreateSession":
            self.sessions[event.args["sid"]] = _create_session(event)
            return
        effect, session = EFFECTS.get(event.name), self.sessions.get(event.args.get("sid"))
        if effect is not None and session is not None:
            effect(session, event, self._timestamp(event.block_number))

    def _timestamp(self, number: int) -> int:
        if number not in self._timestamps:
            self._timestamps[number] = self.ledger.timestamp(number)
        return self._timestamps[number]

    def to_json(self, only: int | None = None) -> dict:
        sessions = []
        for sid, session in sorted(self.sessions.items()):
            if only is not None and sid != only:
                continue
            body = asdict(session)
            body["state"] = session.describe(self.now)
            body["providers"] = list(body["providers"].values())
            sessions.append(body)
        return {
            "market": self.market_address,
            "chain_id": self.ledger.chain_id,
            "block": self.cursor,
            "time": self.now,
            "sessions": sessions,
        }


def _when(timestamp: int, now: int) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    seconds = timestamp - now
    span = f"{abs(seconds) // 3600}h{abs(seconds) % 3600 // 60:02d}m"
    return f"{moment} ({'in ' + span if seconds > 0 else span + ' ago'})"


def _ether(wei: int | None) -> str:
    return "" if wei is None else f"{wei / 10**18:.4f}"


def render_table(snapshot: dict):
    """A header and one table per session, for a terminal."""
    now = snapshot["time"]
    header = Text(
        f"market {snapshot['market']} on chain {snapshot['chain_id']}, block {snapshot['block']},"
        f" {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M:%S} UTC;"
        f" {len(snapshot['sessions'])} session(s)"
    )
    parts = [header]
    for s in snapshot["sessions"]:
        title = (
            f"session {s['sid']}: {s['state']}, collector {s['collector']}, reward"
            f" {_ether(s['reward_wei'])} ETH, deposit {_ether(s['deposit_wei'])} ETH,"
            f" {s['shards']} shards, CF_% {s['pct_bps'] / 100:g}%"
        )
        table = Table(box=box.SIMPLE_HEAD)
        for column in ("provider", "stage", "deposit in", "paid out", "reward"):
            left = column in ("provider", "stage")
            table.add_column(column, justify="left" if left else "right", no_wrap=True)
        for p in s["providers"]:
            roles = [
                r
                for r, a in (("candidate", s["candidate"]), ("optimal", s["optimal"]))
                if a == p["address"]
            ]
            table.add_row(
                p["address"],
                p["stage"]
                + (f" ({', '.join(roles)})" if roles and p["stage"] not in roles else ""),
                _ether(p["deposit_wei"]),
                _ether(p["returned_wei"]),
                _ether(p["reward_wei"]) if p["reward_wei"] else "",
            )
        notes = [] if now >= s["deadline"] else [f"deadline {_when(s['deadline'], now)}"]
        if s["state"] == "closed, complaint window open":
            notes = [f"complaint window ends {_when(s['deadline'], now)}"]
        if s["state"] == "pending":
            notes.insert(0, f"evaluation ends {_when(s['evaluation_deadline'], now)}")
        if s["refund_wei"] is not None:
            notes.append(f"refunded {_ether(s['refund_wei'])} ETH")
        parts += [Text(title), table] if s["providers"] else [Text(title)]
        parts += [Text("  " + "; ".join(notes))] if notes else []
    return Group(*parts)

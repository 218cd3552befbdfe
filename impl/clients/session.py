"""One whole trading session in one process: the collector and N providers, stepped in turn.

This is what `hyperx session run` drives. The parties are the same clients that run
alone (`hyperx collector start`, `hyperx provider join`), each with its own SQLite
file and key; here one loop gives each a turn until every one is done. On a
development chain (the embedded EVM, anvil) the loop fast-forwards the chain's clock
to the next deadline when no party has anything to do, instead of waiting for it.
"""

import contextlib
import dataclasses
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from hyperx.impl.clients.collector import Assessor
from hyperx.impl.clients.devchain import DevClock, require_dev_chain
from hyperx.impl.clients.finality import Finality
from hyperx.impl.errors import BadInput
from hyperx.impl.quality import corruptions, data, pipeline
from hyperx.impl.quality.config import QualityConfig


class SessionError(RuntimeError):
    """The session could not finish; the message says where it stopped."""


@dataclass(frozen=True)
class ProviderSpec:
    """A synthetic provider: the task's pool, corrupted by one family at one level."""

    family: str
    level: int

    @property
    def label(self) -> str:
        return (
            "original"
            if self.level == 0
            else f"{self.family} {corruptions.FAMILIES[self.family][self.level]:g}"
        )


def provider_specs(count: int, family: str = "mislabel", seed: int = 0) -> list[ProviderSpec]:
    """`count` providers of distinct corruption levels (one of them the original), in a seeded order."""
    if family not in corruptions.FAMILIES:
        raise BadInput(f"--family must be one of {', '.join(corruptions.FAMILIES)}, got {family!r}")
    levels = corruptions.num_levels(family)
    if not 1 <= count <= levels:
        raise BadInput(
            f"--providers must be between 1 and {levels} for the '{family}' family, got {count}"
        )
    chosen = np.round(np.linspace(0, min(levels - 1, 2 * (count - 1)), count)).astype(int)
    order = np.random.default_rng(seed).permutation(count)
    return [ProviderSpec(family, int(chosen[i])) for i in order]


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("hyperx"))


def load_task(config: QualityConfig, seed: int) -> data.Task:
    x, y = data.load_digits_images()
    return data.make_task(x, y, config, seed)


def pretrained_m_init(config: QualityConfig, task: data.Task, seed: int, progress=None) -> bytes:
    """M_init for `config`, from the user cache when an identical config made it before."""
    key = hashlib.sha256(
        json.dumps([repr(config), seed, len(task.pretrain_x)]).encode()
    ).hexdigest()[:16]
    path = cache_dir() / f"m_init-{key}.msgpack"
    if path.is_file():
        try:
            pipeline.load_m_init(path.read_bytes())
            return path.read_bytes()
        except Exception:  # a truncated cache file is rebuilt below  # noqa: BLE001
            path.unlink()
    m_init = pipeline.pretrain(config, task, seed, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(m_init)
    tmp.replace(path)
    return m_init


def prepare_assessor(config: QualityConfig, task: data.Task, seed: int, progress=None) -> Assessor:
    m_init = pretrained_m_init(config, task, seed, progress)
    extractor, secret = pipeline.publish(m_init, config.extractor_depth, seed + 1)
    return Assessor(config, m_init, extractor, secret, (task.validation_x, task.validation_y))


def provider_dataset(task: data.Task, spec: ProviderSpec, config: QualityConfig, seed: int):
    return corruptions.corrupt(
        task.pool_x, task.pool_y, spec.family, spec.level, seed, len(config.task_classes)
    )


@dataclass
class Loop:
    """Steps the parties until all have settled, on a development chain mining and moving time.

    `dev` (a DevClock) is given on a development chain only. A loop that holds every
    party of a session (`hyperx session run`) moves the clock whenever all are idle;
    a daemon alone (`alone`) only if its party drives the clock and the chain has
    been quiet (see `hyperx.impl.clients.devchain`).
    """

    ledger: object
    parties: list
    dev: DevClock | None = None
    alone: bool = False
    max_idle_turns: int = 3
    poll_s: float = 0.2

    def run(self, timeout_s: float, until=None) -> None:
        """Turns until every party has settled, or until `until()` holds after a turn."""
        start, idle = time.monotonic(), 0
        while not all(p.is_settled() for p in self.parties) and not (until and until()):
            if time.monotonic() - start > timeout_s:
                raise SessionError(
                    f"the session did not finish within {timeout_s:g} s; still waiting: "
                    + ", ".join(self.waiting())
                )
            progressed = False
            for party in self.parties:
                progressed |= party.step()
            idle = 0 if progressed else idle + 1
            if idle < self.max_idle_turns:
                continue
            idle = 0
            if self.dev is None or not (self.dev.mine_for(self.parties) or self.skip_ahead()):
                time.sleep(self.poll_s)

    def waiting(self) -> list[str]:
        return [
            f"{p.role} {p.address} ({'finality' if p.is_done() else 'its session'})"
            for p in self.parties
            if not p.is_settled()
        ]

    def skip_ahead(self) -> bool:
        """Move the clock to the next deadline any party waits for, if the parties allow it."""
        if self.alone and not (all(p.clock_ready() for p in self.parties) and self.dev.is_quiet()):
            return False
        now = self.ledger.timestamp(self.ledger.head())
        deadlines = [d for p in self.parties for d in p.deadlines() if d >= now]
        return bool(deadlines) and self.dev.skip_to(min(deadlines))


# The whole session: what `hyperx session run` drives

# Each phase ends with the first of its marker: an event, or the complaint window's end.
COMPLAINT_OVER = "complaint window over"
PHASES = (
    ("setup", "CreateSession"),
    ("registration", "Registration"),
    ("evaluation", "SetCandidate"),
    ("review", "SetOptimal"),
    ("claim", "ClaimReward"),
    ("complaint", COMPLAINT_OVER),
    ("settlement", "ClaimDeposit"),
)
STATES = ("pending", "reviewing", "reviewed", "closed")


def describe_outcome(session: dict) -> str:
    """How a settled session ended, from the contract's view of it (`get_session`)."""
    state = STATES[session["st_trade"]]
    if state == "closed":
        return "closed, claim disputed" if session["claim_rejected"] else "closed"
    if session["review_rejected"]:
        return "review disputed"
    return f"expired while {state}"


@dataclass(frozen=True)
class RunOptions:
    providers: int = 3
    shards: int = 20
    rpc: str | None = None
    ipfs: str | None = None
    market: str | None = None  # an already deployed market; else one is deployed
    keystore: Path | None = None  # --rpc: the funding key (else HYPERX_PRIVATE_KEY)
    quality: str = "default"  # assessor config: default | tiny
    family: str = "mislabel"
    seed: int = 0
    state_dir: Path | None = None
    reward_wei: int = 10**18
    deposit_wei: int = 10**16
    pct_bps: int = 2_500
    evaluation_s: int = 3_600  # at least MIN_PERIOD_S + INCLUSION_ROOM_S (collector.Terms)
    review_s: int = 3_600  # each at least MIN_PERIOD_S
    claim_s: int = 3_600
    confirmations: int = 0
    finality_tag: str | None = "finalized"  # see hyperx.impl.clients.finality
    timeout_s: float = 600.0
    fast_forward: bool = True  # mine and move a development chain's clock when all are idle

    @property
    def finality(self) -> Finality:
        return Finality(self.confirmations, self.finality_tag)


@dataclass
class SessionReport:
    state: str
    optimal_provider: str | None
    true_best: str
    providers: dict  # name -> {address, corruption, score, loss, rank, gas, fee_wei, balance_delta, payout, review, passed_over}
    collector: dict  # {address, gas, fee_wei, balance_delta, dataset, refund}
    seconds: dict
    sid: int
    market: str

    def to_json(self) -> dict:
        named = {"collector": self.collector, **self.providers}
        return {
            "state": self.state,
            "optimal_provider": self.optimal_provider,
            "true_best": self.true_best,
            "scores": {name: p["score"] for name, p in self.providers.items()},
            "gas": {name: p["gas"] for name, p in named.items()},
            "balances_delta": {name: p["balance_delta"] for name, p in named.items()},
            "payouts": {name: p["payout"] for name, p in self.providers.items()},
            "refund": self.collector["refund"],
            "dataset": self.collector["dataset"],
            "seconds": self.seconds,
            "market": self.market,
            "sid": self.sid,
        }


def quality_config(name: str) -> QualityConfig:
    configs = {"default": QualityConfig.default, "tiny": QualityConfig.tiny}
    if name not in configs:
        raise BadInput(f"--quality must be one of {', '.join(configs)}, got {name!r}")
    return configs[name]()


def open_store(ipfs: str | None, directory: Path, wait_s: float = 0.0):
    """F_DS: the IPFS node at `ipfs` (waiting up to `wait_s` for it), or the embedded
    store under `directory`. BadInput if `ipfs` is not an API address."""
    from hyperx.impl.datastore import DatastoreError, EmbeddedStore, IpfsStore
    from hyperx.impl.datastore.ipfs import parse_api_address

    if not ipfs:
        return EmbeddedStore(directory)
    try:
        parse_api_address(ipfs)
    except DatastoreError as error:
        raise BadInput(f"--ipfs: {error}") from None
    give_up = time.monotonic() + wait_s
    while True:
        try:
            return IpfsStore(ipfs)
        except DatastoreError:
            if time.monotonic() >= give_up:
                raise
            time.sleep(0.5)


def run_session(options: RunOptions, progress=lambda phase, message: None) -> SessionReport:
    """Deploy (or join) a market, then run one collector and N providers to the end.

    Without a `state_dir`, the parties' state (their keys, master keys, review keys,
    the bought dataset) lives in a private temporary folder that is removed when the
    run ends, however it ends.
    """
    with contextlib.ExitStack() as stack:
        if options.state_dir is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="hyperx-session-"))
            options = dataclasses.replace(options, state_dir=Path(folder))
        harness = build_session(options, progress)
        stack.callback(harness.close)
        harness.run(options.timeout_s)
        return harness.report()


@dataclass(frozen=True)
class Venue:
    """Where a session runs: the parties' ledger, how a fresh account gets ether, and
    how the progress names it."""

    ledger: object
    fund: Callable[[str, int], None]  # (address, wei)
    market: str  # the market's address, as its chain writes it
    where: str


def web3_venue(chain, market, funder) -> Venue:
    """The Vyper market on the embedded EVM or a JSON-RPC node, funded by `funder`."""
    from hyperx.impl.clients.web3_ledger import Web3Ledger

    return Venue(
        Web3Ledger(market),
        lambda address, wei: chain.transact(funder, address, b"", wei),
        market.address,
        f"market at {market.address} on "
        + ("the embedded EVM" if chain.embedded else f"chain {chain.chain_id}"),
    )


def spec_venue(finality_depth: int = 1) -> Venue:
    """The spec's F_BC running Prot_SC itself (`SpecLedger`), for the clients' tests:
    no gas, so balances move by exactly what the protocol pays. Accounts are funded
    at genesis, before the session's first block; blocks `finality_depth` deep are
    final (a reorganisation drops fewer)."""
    from hyperx.impl.clients.ledger import SpecLedger
    from hyperx.spec.chain import Blockchain

    blockchain = Blockchain(finality_depth=finality_depth, genesis_time=int(time.time()))
    ledger = SpecLedger(blockchain)
    return Venue(ledger, blockchain.fund, ledger.contract_address, "the spec's F_BC (Prot_SC)")


def connect(options: RunOptions) -> Venue:
    """The embedded EVM with a fresh market, or --rpc (a fresh market unless --market)."""
    from hyperx.impl.chain.connection import connect_embedded, connect_rpc, load_signer
    from hyperx.impl.chain.deployment import open_market
    from hyperx.impl.chain.market import Market

    if options.rpc:
        funder = load_signer(options.keystore)
        chain = connect_rpc(options.rpc)
    else:
        chain = connect_embedded()
        funder = chain.accounts[0]
    if options.market:
        market = open_market(chain, options.market).market
    else:
        market = Market.deploy(chain, funder)[0]
    return web3_venue(chain, market, funder)


@dataclass
class Harness:
    """One collector and its providers on one market, ready to run; tests reach inside."""

    options: RunOptions
    venue: Venue
    store: object
    task: data.Task
    collector: object
    providers: list
    names: list[str]
    specs: list[ProviderSpec]
    observer: "Observer"
    start_balances: dict
    clock: dict

    @property
    def ledger(self):
        return self.venue.ledger

    def parties(self) -> list:
        return [self.collector, *self.providers]

    def run(self, timeout_s: float, until=None) -> None:
        parties = [*self.parties(), self.observer]
        dev = DevClock(self.ledger) if self.options.fast_forward else None
        Loop(self.ledger, parties, dev).run(timeout_s, until)
        self.clock["end"] = time.monotonic()

    def close(self) -> None:
        for party in [*self.parties(), self.observer]:
            party.state.close()

    def deltas(self) -> dict:
        """Each party's balance change since it was funded, in wei (gas included)."""
        return {
            party.address: self.ledger.balance(party.address) - self.start_balances[party.address]
            for party in self.parties()
        }

    def report(self) -> SessionReport:
        collector, ledger = self.collector, self.ledger
        sid = collector.session()
        scored = collector.providers()
        ranking = collector.ranking()
        deltas = self.deltas()
        rows = {}
        for name, spec, party in zip(self.names, self.specs, self.providers, strict=True):
            facts = scored.get(party.address, {})
            gas, fee = party.gas()
            rows[name] = {
                "address": party.address,
                "corruption": spec.label,
                "score": facts.get("accuracy"),
                "loss": facts.get("loss"),
                "rank": ranking.index(party.address) + 1 if party.address in ranking else None,
                "gas": gas,
                "fee_wei": fee,
                "balance_delta": deltas[party.address],
                "payout": party.facts().get("payout"),
                "review": facts.get("review"),
                "rejected": facts.get("reason"),
                "passed_over": facts.get("passed_over"),
            }
        gas, fee = collector.gas()
        collector_row = {
            "address": collector.address,
            "gas": gas,
            "fee_wei": fee,
            "balance_delta": deltas[collector.address],
            "dataset": collector.facts().get("dataset"),
            "refund": collector.facts().get("refund"),
        }
        by_address = {
            party.address: name for name, party in zip(self.names, self.providers, strict=True)
        }
        return SessionReport(
            state=describe_outcome(ledger.get_session(sid)),
            optimal_provider=by_address.get(collector.facts().get("optimal")),
            true_best=self.names[min(range(len(self.specs)), key=lambda i: self.specs[i].level)],
            providers=rows,
            collector=collector_row,
            seconds=self.observer.phase_seconds(self.clock),
            sid=sid,
            market=self.venue.market,
        )


def build_session(
    options: RunOptions,
    progress=lambda phase, message: None,
    *,
    venue: Venue | None = None,
    assessor: Assessor | None = None,
    misbehaviours: dict | None = None,
    abort_after_review: bool = False,
) -> Harness:
    """Fund a fresh collector and N providers on a market, and open the session.

    `venue` is where to run (default: `connect(options)`); `misbehaviours` maps a
    provider's position to its `Misbehaviour` (fault tests). The parties keep their
    state under `options.state_dir`, which must be given.
    """
    from hyperx.impl.clients.collector import CollectorClient, Terms
    from hyperx.impl.clients.ledger import Account
    from hyperx.impl.clients.provider import Misbehaviour, ProviderClient
    from hyperx.impl.clients.state import StateStore, make_private_dir

    clock = {"start": time.monotonic()}
    config = assessor.config if assessor else quality_config(options.quality)
    specs = provider_specs(options.providers, options.family, options.seed)
    if options.state_dir is None:
        raise SessionError("build_session needs a state_dir (run_session makes a private one)")
    state_dir = make_private_dir(options.state_dir)
    terms = Terms(
        options.reward_wei,
        options.deposit_wei,
        options.pct_bps,
        options.shards,
        options.evaluation_s,
        options.review_s,
        options.claim_s,
    )
    terms.check()

    task = load_task(config, options.seed)
    if not 1 <= options.shards <= len(task.pool_x):
        raise BadInput(
            f"--shards must be between 1 and {len(task.pool_x)} (the dataset's entries), got {options.shards}"
        )
    venue = venue or connect(options)  # before the assessor: a bad --rpc fails fast
    ledger = venue.ledger
    if options.fast_forward:
        require_dev_chain(ledger, "hyperx session run (without --real-time)")
    clock["deployed"] = time.monotonic()
    progress("setup", venue.where)
    progress("setup", "pretraining M_init (cached per config) and publishing the extractor")
    assessor = assessor or prepare_assessor(config, task, options.seed)
    clock["assessor"] = time.monotonic()

    collector_key = Account.create()
    provider_keys = [Account.create() for _ in specs]
    venue.fund(collector_key.address, options.reward_wei + 10**17)
    for key in provider_keys:
        venue.fund(key.address, options.deposit_wei + 10**17)
    start_balances = {k.address: ledger.balance(k.address) for k in [collector_key, *provider_keys]}

    store = open_store(options.ipfs, state_dir / "store")
    collector = CollectorClient(
        ledger,
        collector_key,
        StateStore(state_dir / "collector.sqlite", collector_key.private_key),
        store,
        assessor,
        finality=options.finality,
        abort_after_review=abort_after_review,
    )
    names = [f"provider-{i + 1}" for i in range(len(specs))]
    misbehaviours = misbehaviours or {}
    providers = [
        ProviderClient(
            ledger,
            key,
            StateStore(state_dir / f"{name}.sqlite", key.private_key),
            store,
            provider_dataset(task, spec, config, options.seed),
            finality=options.finality,
            misbehaviour=misbehaviours.get(i, Misbehaviour()),
        )
        for i, (name, key, spec) in enumerate(zip(names, provider_keys, specs, strict=True))
    ]
    observer = Observer(
        ledger,
        progress,
        {
            k.address: n
            for k, n in zip([collector_key, *provider_keys], ["collector", *names], strict=True)
        },
    )
    head = ledger.head()
    for party in [collector, *providers, observer]:
        party.state.set_cursor(head)  # a market may hold older sessions: follow from here
    collector.start_session(terms)
    return Harness(
        options,
        venue,
        store,
        task,
        collector,
        providers,
        names,
        specs,
        observer,
        start_balances,
        clock,
    )


def ether(wei: int) -> str:
    return f"{wei / 10**18:.4f} ETH"


class Observer:
    """Follows the contract's events for the progress display and the phase timings:
    each event as the parties see it, the payouts, and the end of the complaint window."""

    role = "observer"
    address = "observer"

    def __init__(self, ledger, progress, names: dict[str, str]):
        from hyperx.impl.clients.state import StateStore

        self.ledger = ledger
        self.progress = progress
        self.names = names
        self.state = StateStore(":memory:")
        self.seen: dict[str, float] = {}
        self.complaint_until: int | None = None  # a ClaimReward's window, until it ends
        self.deposit = 0  # cf_deposit of the session followed
        self.optimal: str | None = None

    def step(self) -> bool:
        cursor, head = self.state.cursor(), self.ledger.head()
        if head <= cursor:
            return False
        for event in self.ledger.events(cursor + 1, head):
            self._complaint_window(cursor + 1, event.block_number)
            self.seen[event.name] = time.monotonic()
            phase = next((p for p, marker in PHASES if marker == event.name), "")
            self.progress(phase, f"{self.describe(event)} (block {event.block_number})")
            cursor = event.block_number
        self._complaint_window(cursor + 1, head)
        self.state.record_block(head, "", forget_below=head - 1)
        return False

    def _complaint_window(self, first: int, last: int) -> None:
        """Say so at the first of these blocks stamped at or after the window's end."""
        if self.complaint_until is None:
            return
        for number in range(first, last + 1):
            if self.ledger.timestamp(number) >= self.complaint_until:
                self.complaint_until = None
                self.seen[COMPLAINT_OVER] = time.monotonic()
                self.progress("complaint", f"{COMPLAINT_OVER}, no dispute (block {number})")
                return

    def describe(self, event) -> str:
        args = event.args
        who = self.names.get(args.get("pid") or args.get("collector"), "")
        text = f"{event.name} {who}"
        if event.name == "CreateSession":
            self.deposit = args["cf_deposit"]
        elif event.name == "SubmitReview":
            text += ": sample keys sealed to the review key"
        elif event.name == "SetOptimal":
            self.optimal = args["pid"]
        elif event.name == "ClaimReward":
            self.complaint_until = args["deadline"]
            window = args["deadline"] - self.ledger.timestamp(event.block_number)
            text += f": master key sealed to the review key, complaint window {window} s"
        elif event.name == "DisputeReview":
            text += f": the sealed key at position {args['position']} is wrong, deposit forfeited"
        elif event.name == "DisputeClaim":
            self.complaint_until = None
            text += f": the master key does not give shard {args['index']}, deposit forfeited"
        elif event.name == "ClaimDeposit":
            extra = args["amount"] - self.deposit
            text += f" {ether(args['amount'])}"
            if extra:
                paid = "reward" if args["pid"] == self.optimal else "compensation"
                text += f" (deposit {ether(self.deposit)} + {paid} {ether(extra)})"
        elif event.name == "ClaimRefund":
            text += f" {ether(args['amount'])}"
        return text

    def is_done(self) -> bool:
        return True

    def is_settled(self) -> bool:
        return True

    def clock_ready(self) -> bool:
        return True

    def deadlines(self) -> list[int]:
        return []

    def phase_seconds(self, clock: dict) -> dict:
        seconds = {
            "deploy": clock["deployed"] - clock["start"],
            "assessor": clock["assessor"] - clock["deployed"],
        }
        previous = clock["assessor"]
        for phase, marker in PHASES:
            if marker in self.seen:
                seconds[phase] = max(0.0, self.seen[marker] - previous)
                previous = self.seen[marker]
        seconds["total"] = clock["end"] - clock["start"]
        return {name: round(value, 2) for name, value in seconds.items()}

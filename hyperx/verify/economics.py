"""The economic adversary (issue 9): does any deviation pay better than honest play?

After BDTsim (the Blockchain Data Trading Simulator: each participant's decision
points as honest or cheating branches, every path of the tree run on an EVM, each
party's funds difference collected), and past it: one collector and three
providers; each path is a named strategy of one deviating party against honest
others, run through the same parties and adversary as the refinement suite
(`hyperx.spec.schedule`) on the spec's F_BC, and again with the contract on an EVM
executing every transaction (`engines`); both must give the same payoffs, and a
profitable deviation is flagged here, not left to a reader of the tree.

The scenario: one session (reward R, deposit d, CF_% = 25%, n = 8 shards) and three
providers with datasets of quality 9 (P0, the best), 6 (P1) and 3 (P2); X is an
account with no data.

Payoffs are money and data, the data valued at the session's own price u = R / n a
shard (a fair trade is then worth nothing to either side):
- a provider: its net money, less u for each shard of its real dataset that
  anyone else can read;
- the collector: its net money, plus u for each shard of a real dataset it can read.
Honest play is worth 0 to everyone. Gas is left out of the payoffs (the EVM
engine reports it beside them).

A strategy fails when its deviator's payoff exceeds the deviator's payoff under
honest play, or when an honest party's payoff falls below its honest-play payoff,
unless the strategy is a residual the design names (`RESIDUALS`), whose damage must
then stay within the stated bound.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from hyperx.spec.config import BPS, MIN_PERIOD_S
from hyperx.spec.merkle import keccak256
from hyperx.spec.parties import encode_manifest
from hyperx.spec.schedule import CREATION_BREAKAGES, OUTSIDER, World, classify, make_dataset
from hyperx.verify import refinement

REWARD = 1_000_000
DEPOSIT = 100_000
PCT_BPS = 2_500
SHARDS = 8
QUALITIES = (9, 6, 3)
EVALUATION_S = 600
UNIT = REWARD // SHARDS  # u: the value of one shard at the session's price
COMPENSATION = REWARD * PCT_BPS // BPS
ROLES = ("C", "P0", "P1", "P2", OUTSIDER)


@dataclass(frozen=True)
class Strategy:
    name: str
    deviator: str  # the party that deviates; "" for honest play
    description: str
    play: Callable[[World], None]  # drives the world to the end of the session
    attack: str = ""  # the attack it replays, if any


@dataclass(frozen=True)
class Residual:
    """A deviation the design cannot make unprofitable (see hyperx.spec.contract),
    and the most it may gain or cost anyone."""

    reason: str
    bound: int


@dataclass
class Outcome:
    strategy: Strategy
    engine: str
    payoffs: dict[str, int]  # party -> payoff
    money: dict[str, int]  # party -> net money
    outcome: tuple
    gas: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    residual: Residual | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


# Driving a world


def start(world: World) -> None:
    world.apply(
        {
            "op": "start_session",
            "reward": REWARD,
            "deposit": DEPOSIT,
            "pct_bps": PCT_BPS,
            "shards": SHARDS,
            "evaluation_s": EVALUATION_S,
            "threshold": 0,
        }
    )
    world.apply({"op": "advance", "seconds": 3})


def join(world: World, skip: tuple[str, ...] = ()) -> None:
    for provider, quality in enumerate(QUALITIES):
        if f"P{provider}" not in skip:
            world.apply({"op": "join", "provider": provider, "sid": 0, "quality": quality})


def step_until(world: World, predicate) -> None:
    world.mine_until(predicate)


def call(world: World, party: str, interface: str, variant: str = "honest", target: int = 0):
    world.call_now(party, interface, variant, target)


def corrupt(world: World, party: str, at: str = "now") -> None:
    world.apply({"op": "corrupt", "party": party, "at": at})


def view(world: World):
    return world.views().get(0)


def _phase(name: str):
    return lambda w: view(w) is not None and view(w).phase == name


def _has(field_name: str, party: str):
    return lambda w: view(w) is not None and w.address[party] in getattr(view(w), field_name)


# The strategies: one deviating party, everyone else honest


def honest(world: World) -> None:
    start(world)
    join(world)


def collector_silent(world: World) -> None:
    """C never picks a candidate (and takes its refund)."""
    corrupt(world, "C", "SubmitFeatures")
    honest(world)


def collector_aborts_after_review(world: World) -> None:
    """C reads the candidate's sample and never promotes it."""
    corrupt(world, "C", "SubmitReview")
    honest(world)


def collector_disputes_a_good_review(world: World) -> None:
    """C files a dispute against a valid review (it cannot succeed), then stays silent."""
    corrupt(world, "C", "SubmitReview")
    honest(world)
    step_until(world, lambda w: view(w).review_submitted)
    call(world, "C", "dispute_review")


def collector_disputes_a_good_key(world: World) -> None:
    """C files a dispute against a valid master key within the complaint window."""
    corrupt(world, "C", "ClaimReward")
    honest(world)
    step_until(world, _phase("closed"))
    call(world, "C", "dispute_claim")


def collector_picks_the_worst(world: World) -> None:
    """C picks the worst provider, then plays the rest honestly."""
    corrupt(world, "C", "SubmitFeatures")
    honest(world)
    step_until(world, lambda w: len(view(w).features) == len(QUALITIES))
    step_until(world, lambda w: w.chain.now >= view(w).config["cf_evaluation_deadline"])
    call(world, "C", "set_candidate", target=2)
    step_until(world, lambda w: view(w).review_submitted)
    call(world, "C", "set_optimal", target=2)


def collector_stalls_the_claim(world: World) -> None:
    """C reads the master key from the mempool and tries to stop the payment."""
    corrupt(world, "C", "SetOptimal")
    honest(world)
    step_until(world, lambda w: any(t.call.name == "claim_reward" for t in w.chain.mempool))
    for interface in ("claim_refund", "set_optimal", "set_candidate", "dispute_claim"):
        call(world, "C", interface)


def collector_short_periods(world: World) -> None:
    """Issue 9, attack 2: a session whose periods no one could meet."""
    corrupt(world, "C")
    short = [
        CREATION_BREAKAGES.index(breakage)
        for breakage in (
            {"review_s": 1, "claim_s": 1},
            {"review_s": MIN_PERIOD_S - 1},
            {"claim_s": MIN_PERIOD_S - 1},
        )
    ]
    for period_breakage in short:
        known = set(world.seen)
        world.apply(
            {
                "op": "call",
                "party": "C",
                "interface": "create_session",
                "sid": 0,
                "variant": "wrong",
                "target": period_breakage,
            }
        )
        mine = [tx.tx_id for tx in world.chain.mempool if tx.tx_id not in known]
        world.apply({"op": "mine", "gap": 1, "include": mine})
    if view(world) is not None:
        join(world)


def best_silent_at_features(world: World) -> None:
    corrupt(world, "P0", "SampleData")
    honest(world)


def best_silent_at_review(world: World) -> None:
    corrupt(world, "P0", "SetCandidate")
    honest(world)


def best_junk_review(world: World) -> None:
    """Sealed keys that are not the committed ones (the review part of attack 1)."""
    corrupt(world, "P0", "SetCandidate")
    honest(world)
    step_until(world, lambda w: view(w).candidate is not None)
    call(world, "P0", "submit_review", variant="wrong")


def best_silent_at_claim(world: World) -> None:
    corrupt(world, "P0", "SetOptimal")
    honest(world)


def best_junk_claim(world: World) -> None:
    """A master key that does not give the committed shard keys."""
    corrupt(world, "P0", "SetOptimal")
    honest(world)
    step_until(world, _phase("reviewed"))
    call(world, "P0", "claim_reward", variant="wrong")


def best_withholds(world: World) -> None:
    """Issue 9, attack 3: P0 stores none of its shards, then only its sample."""
    corrupt(world, "P0")
    start(world)
    join(world, skip=("P0",))
    world.providers[0].joins[0] = world.providers[0].joins.get(0) or _dataset(world, "P0")
    call(world, "P0", "registration", variant="withhold")
    step_until(world, _has("samples", "P0"))
    world.apply({"op": "store", "party": "P0", "sid": 0, "which": "sample"})
    call(world, "P0", "submit_features")
    step_until(world, _phase("reviewing"))
    if view(world).candidate == world.address["P0"]:
        call(world, "P0", "submit_review")


def _best_with_manifest(bend: Callable[[World, object], bytes]):
    """P0 commits its real dataset but registers the manifest address `bend` gives
    (one nobody stored, or one listing other leaves than its root commits to), then
    plays on: the collector must pass it over before naming a candidate."""

    def strategy(world: World) -> None:
        corrupt(world, "P0")
        start(world)
        join(world, skip=("P0",))
        p0 = world.providers[0]
        p0.joins[0] = p0.joins.get(0) or _dataset(world, "P0")
        holding = world.parties_module.prepare_holding(
            world.datastore, p0.joins[0], p0._derive(b"master", 0)
        )
        holding.adr_manifest = bend(world, holding)
        p0.holdings[0] = holding
        call(world, "P0", "registration")
        step_until(world, _has("samples", "P0"))
        call(world, "P0", "submit_features")
        step_until(world, _phase("reviewing"))
        if view(world).candidate == world.address["P0"]:
            call(world, "P0", "submit_review")

    return strategy


def _unstored_manifest(world: World, holding) -> bytes:
    return keccak256(b"a manifest nobody stored")


def _short_manifest(world: World, holding) -> bytes:
    return world.datastore.store(encode_manifest(holding.cids[:-1], holding.key_hashes[:-1]))


def _ragged_manifest(world: World, holding) -> bytes:
    """Every shard listed, and one stray byte: no whole number of entries."""
    blob = encode_manifest(holding.cids, holding.key_hashes) + b"\x00"
    return world.datastore.store(blob)


def _foreign_manifest(world: World, holding) -> bytes:
    """Every shard listed, in another order: the leaves do not give the root."""
    return world.datastore.store(encode_manifest(holding.cids[::-1], holding.key_hashes[::-1]))


def worst_copies_features(world: World) -> None:
    """Issue 9, attack 4: P2 submits a copy of P0's sealed features."""
    corrupt(world, "P2", "SampleData")
    honest(world)
    step_until(world, lambda w: _has("features", "P0")(w) and _has("samples", "P2")(w))
    victim = next(
        tx
        for tx in world.seen.values()
        if tx.call.name == "submit_features" and tx.sender == world.address["P0"]
    )
    world.apply({"op": "copy", "tx": victim.tx_id, "as": "P2"})


def junk_provider_copies_features(world: World) -> None:
    """Issue 9, attack 1: X, with no dataset, commits a junk root, copies the best
    provider's features, and would open junk keys if it were ever picked."""
    honest(world)
    call(world, OUTSIDER, "registration")
    step_until(world, lambda w: _has("features", "P0")(w) and _has("samples", OUTSIDER)(w))
    victim = next(
        tx
        for tx in world.seen.values()
        if tx.call.name == "submit_features" and tx.sender == world.address["P0"]
    )
    world.apply({"op": "copy", "tx": victim.tx_id, "as": OUTSIDER})
    step_until(world, _phase("reviewing"))
    if view(world).candidate == world.address[OUTSIDER]:
        call(world, OUTSIDER, "submit_review", variant="wrong")


def best_features_of_other_data(world: World) -> None:
    """P0 commits junk and submits features of its real data (the residual)."""
    corrupt(world, "P0")
    start(world)
    join(world, skip=("P0",))
    world.providers[0].joins[0] = _dataset(world, "P0", quality=0)
    call(world, "P0", "registration")
    step_until(world, _has("samples", "P0"))
    call(world, "P0", "submit_features", variant="other")
    step_until(world, _phase("reviewing"))
    if view(world).candidate == world.address["P0"]:
        call(world, "P0", "submit_review")


def _best_miscommits(junk: bool, sampled: bool):
    """P0 commits one shard wrongly and otherwise follows the protocol (a puppet): its
    ciphertext under another key than the committed one (`junk`), or its committed key
    hash not its shard key's; the shard inside or outside the collector's sample."""

    def strategy(world: World) -> None:
        start(world)
        p0 = world.address["P0"]
        sample = world.collector.sample_indices(0, p0)
        index = next(i for i in range(SHARDS) if (i in sample) == sampled)
        target = 2 * index + (not junk)
        world.apply({"op": "miscommit", "provider": 0, "sid": 0, "quality": 9, "target": target})
        join(world, skip=("P0",))

    return strategy


def outsider_grabs(world: World) -> None:
    """X tries every pull and every collector move, at every step."""
    honest(world)
    for phase in ("reviewing", "reviewed", "closed"):
        step_until(world, _phase(phase))
        for interface in ("set_candidate", "set_optimal", "claim_deposit", "claim_refund"):
            call(world, OUTSIDER, interface)


def _dataset(world: World, name: str, quality: int | None = None) -> list[bytes]:
    index = int(name[1:])
    return make_dataset(name, 0, QUALITIES[index] if quality is None else quality, SHARDS)


STRATEGIES = (
    Strategy("honest", "", "everyone plays Figure 3", honest),
    Strategy("collector_silent", "C", "never picks a candidate", collector_silent),
    Strategy(
        "collector_aborts_after_review",
        "C",
        "reads the sample, never promotes",
        collector_aborts_after_review,
    ),
    Strategy(
        "collector_disputes_a_good_review",
        "C",
        "disputes a valid review",
        collector_disputes_a_good_review,
    ),
    Strategy(
        "collector_disputes_a_good_key",
        "C",
        "disputes a valid master key",
        collector_disputes_a_good_key,
    ),
    Strategy("collector_picks_the_worst", "C", "buys from P2", collector_picks_the_worst),
    Strategy(
        "collector_stalls_the_claim",
        "C",
        "reads the key from the mempool, tries to stop the payment",
        collector_stalls_the_claim,
    ),
    Strategy(
        "collector_short_periods",
        "C",
        "opens a session with 1-second periods",
        collector_short_periods,
        attack="2: robbed by short periods",
    ),
    Strategy("best_silent_at_features", "P0", "never submits features", best_silent_at_features),
    Strategy("best_silent_at_review", "P0", "picked, never reviews", best_silent_at_review),
    Strategy(
        "best_junk_review",
        "P0",
        "opens its sample with wrong sealed keys",
        best_junk_review,
        attack="1: paid for junk (the review)",
    ),
    Strategy("best_silent_at_claim", "P0", "promoted, never claims", best_silent_at_claim),
    Strategy("best_junk_claim", "P0", "claims with a wrong master key", best_junk_claim),
    Strategy(
        "best_withholds",
        "P0",
        "stores only its sampled shards",
        best_withholds,
        attack="3: paid for data that is not there",
    ),
    Strategy(
        "best_hides_manifest",
        "P0",
        "registers a manifest address nothing is stored under",
        _best_with_manifest(_unstored_manifest),
    ),
    Strategy(
        "best_short_manifest",
        "P0",
        "its manifest lists one shard fewer than it registered",
        _best_with_manifest(_short_manifest),
    ),
    Strategy(
        "best_ragged_manifest",
        "P0",
        "its manifest is not a whole number of entries",
        _best_with_manifest(_ragged_manifest),
    ),
    Strategy(
        "best_foreign_manifest",
        "P0",
        "its manifest lists leaves its root does not commit to",
        _best_with_manifest(_foreign_manifest),
    ),
    Strategy(
        "worst_copies_features",
        "P2",
        "submits a copy of P0's features",
        worst_copies_features,
        attack="4: copies waste the session",
    ),
    Strategy(
        "junk_provider_copies_features",
        OUTSIDER,
        "no data: junk root, P0's features copied",
        junk_provider_copies_features,
        attack="1: paid for junk",
    ),
    Strategy(
        "best_features_of_other_data",
        "P0",
        "commits junk, submits features of real data",
        best_features_of_other_data,
    ),
    Strategy(
        "best_junk_shard_unsampled",
        "P0",
        "one shard's ciphertext under another key, outside the sample",
        _best_miscommits(junk=True, sampled=False),
    ),
    Strategy(
        "best_junk_shard_sampled",
        "P0",
        "one shard's ciphertext under another key, in the sample",
        _best_miscommits(junk=True, sampled=True),
    ),
    Strategy(
        "best_lying_key_hash_unsampled",
        "P0",
        "one committed key hash not its shard key's, outside the sample",
        _best_miscommits(junk=False, sampled=False),
    ),
    Strategy(
        "best_lying_key_hash_sampled",
        "P0",
        "one committed key hash not its shard key's, in the sample",
        _best_miscommits(junk=False, sampled=True),
    ),
    Strategy("outsider_grabs", OUTSIDER, "tries every pull and collector move", outsider_grabs),
)

RESIDUALS = {
    "best_features_of_other_data": Residual(
        "features of other data than committed are found out by the review but cannot "
        "be proven on chain without running the extractor there (hyperx.spec.contract); "
        "the provider collects the compensation instead of the reward and keeps its data",
        COMPENSATION,
    ),
    "best_junk_shard_unsampled": Residual(
        "a shard committed as ciphertext that its committed key does not open is found "
        "only if it is sampled; outside the sample nothing on chain shows it (a proof of "
        "a wrong decryption, as in FairSwap, would need the cipher run on chain): the "
        "collector pays the reward and lacks that shard",
        UNIT,
    ),
    "best_junk_shard_sampled": Residual(
        "a junk shard in the sample stops the promotion, and the review it stands on "
        "cannot be proven wrong on chain: the provider collects the compensation for a "
        "sample one shard short",
        UNIT,
    ),
}


# Payoffs


def _real_shards(world: World) -> dict[str, set[int]]:
    """The shards of each provider's real dataset (what it was asked to join with),
    less those it committed as junk."""
    real = {}
    for name, provider in zip(world.names[1:], world.providers, strict=True):
        joined = world.simulator.datasets.get((0, world.address[name]))
        if name in world.puppets:  # it joined with real data, then miscommitted a shard
            joined = provider.joins.get(0)
        holding = provider.holdings.get(0)
        if joined is not None and holding is not None and holding.plaintexts == joined:
            junk = world.junk_shards.get((0, world.address[name]), set())
            real[name] = set(range(len(joined))) - junk
    return real


def measure(world: World, strategy: Strategy, engine: str, initial: dict[str, int]) -> Outcome:
    """Each party's payoff after the session, from the world's balances and reads."""
    real = _real_shards(world)
    collector_secrets = {world.collector.review_secret(sid) for sid in world.views()}
    everyone = collector_secrets | world.revealed_review_secrets()
    reads_by_collector = world.readable(collector_secrets)
    reads_by_anyone = world.readable(everyone)
    money = {
        name: world.chain.balance(world.address[name]) - initial[world.address[name]]
        for name in ROLES
    }
    payoffs = dict(money)
    for name, shards in real.items():
        payoffs[name] -= UNIT * len(
            {i for sid, n, i in reads_by_anyone if n == name and i in shards}
        )
    # An honest collector gets the shards it kept; a deviating one whatever it could read
    got = reads_by_collector if strategy.deviator == "C" else world.collector_holdings()
    payoffs["C"] += UNIT * len({(n, i) for sid, n, i in got if n in real and i in real[n]})
    outcomes = {sid: classify(v, world.name_of) for sid, v in world.views().items()}
    paid = getattr(world.chain, "gas_paid", {})  # an EVM engine's: wei of gas per address
    gas = {name: paid.get(world.address[name], 0) for name in ROLES} if paid else {}
    return Outcome(strategy, engine, payoffs, money, tuple(sorted(outcomes.items())), gas)


# Honest play: the session closes with the best provider (P0, quality 9) as the
# optimal one, paid; money and data change hands at the session's price, so every
# payoff is 0.
HONEST_OUTCOME = ((0, ("closed", "P0", "P0")),)


def judge(outcome: Outcome, baseline: dict[str, int]) -> None:
    """Fill `outcome.problems`: a deviator better off than honest, an honest party
    worse off, or a residual beyond its bound; and honest play that is not the fair
    exchange (another ending, or a payoff other than 0)."""
    deviator = outcome.strategy.deviator
    if not deviator and outcome.outcome != HONEST_OUTCOME:
        outcome.problems.append(f"honest play ends {outcome.outcome}, not {HONEST_OUTCOME}")
    if not deviator and any(outcome.payoffs.values()):
        outcome.problems.append(f"honest play is not at the session's price: {outcome.payoffs}")
    residual = RESIDUALS.get(outcome.strategy.name)
    outcome.residual = residual
    for party, payoff in outcome.payoffs.items():
        gain = payoff - baseline[party]
        if party == deviator and gain > 0:
            if residual is None or gain > residual.bound:
                outcome.problems.append(f"{party} earns {gain} more than by honest play")
        elif party != deviator and gain < 0:
            if residual is None or -gain > residual.bound:
                outcome.problems.append(f"honest {party} loses {-gain}")


def play(strategy: Strategy, make_world: Callable[[], World], engine: str) -> Outcome:
    """One strategy to the session's end. On the spec's F_BC the refinement's checks
    of the chain and of the honest parties ride along (a deviation must not make an
    honest party's move revert, come late or go out in vain): a broken one is a
    problem of the strategy's outcome."""
    world = make_world()
    initial = dict(world.chain.balances)
    checked = engine == "spec"
    if checked:
        refinement.PartyWatch(world)
    broken = None
    try:
        strategy.play(world)
        world.finish()
        if checked:
            refinement.check_no_stuck_funds(world, refinement.check_chain(world))
            if world.is_honest("C"):
                refinement.check_collector_keeps(world, world.observables()[0])
    except refinement.InvariantViolation as violation:
        broken = str(violation)
    outcome = measure(world, strategy, engine, initial)
    if broken is not None:
        outcome.problems.append(f"invariant: {broken}")
    return outcome


@dataclass
class EconomicsReport:
    outcomes: list[Outcome]
    disagreements: list[str]  # payoffs that differ between engines

    @property
    def ok(self) -> bool:
        return not self.disagreements and all(o.ok for o in self.outcomes)

    def to_json(self) -> dict:
        return {
            "roles": list(ROLES),
            "unit_wei_per_shard": UNIT,
            "strategies": [
                {
                    "name": o.strategy.name,
                    "deviator": o.strategy.deviator or None,
                    "description": o.strategy.description,
                    "attack": o.strategy.attack or None,
                    "engine": o.engine,
                    "outcome": [list(pair) for pair in o.outcome],
                    "payoffs": o.payoffs,
                    "money": o.money,
                    "gas": o.gas or None,
                    "residual": None if o.residual is None else o.residual.reason,
                    "problems": o.problems,
                }
                for o in self.outcomes
            ],
            "disagreements": self.disagreements,
            "ok": self.ok,
        }


class EngineError(RuntimeError):
    """An engine cannot run here (a missing extra, an unreachable node): one line."""


def spec_world(contract_module=None, parties_module=None) -> World:
    """The real world alone on the spec's F_BC (the ideal world is the refinement's
    business; here a contract, or the parties, may be broken on purpose)."""
    return World(contract_module, parties_module=parties_module, with_ideal=False)


def get_engines(rpc: str | None = None) -> dict[str, Callable[[], World]]:
    """The spec's F_BC, the contract on the embedded EVM, and with `rpc` the contract
    on that node. The EVM engines live in hyperx.impl.chain (web3, vyper), loaded
    only here: the one place hyperx.verify reaches into hyperx.impl."""
    try:
        from hyperx.impl.chain import engine
    except ImportError as error:
        raise EngineError(
            f"replaying on the contract needs hyperx[chain] ({error.name} is missing): "
            "pip install 'hyperx[chain]'"
        ) from None
    engines = {"spec": spec_world, "evm": engine.embedded_world}
    if rpc is not None:
        try:
            engines["rpc"] = engine.node_world_factory(rpc)
        except engine.EngineError as error:
            raise EngineError(str(error)) from None
    return engines


def run_economics(
    engines: dict[str, Callable[[], World]] | None = None,
    strategies: tuple[Strategy, ...] = STRATEGIES,
) -> EconomicsReport:
    """Every strategy on every engine (default: the spec's F_BC alone); the first
    engine's honest play is the baseline of the judgement, and every engine must
    give the payoffs of the first."""
    engines = engines or {"spec": spec_world}
    outcomes, disagreements = [], []
    first = next(iter(engines))
    baseline = None
    for strategy in strategies:
        results = {name: play(strategy, make, name) for name, make in engines.items()}
        if baseline is None:
            baseline = results[first].payoffs
        for name, outcome in results.items():
            judge(outcome, baseline)
            outcomes.append(outcome)
            if (outcome.payoffs, outcome.outcome) != (
                results[first].payoffs,
                results[first].outcome,
            ):
                disagreements.append(
                    f"{strategy.name}: {name} gives {outcome.payoffs} {outcome.outcome}, "
                    f"{first} {results[first].payoffs} {results[first].outcome}"
                )
    return EconomicsReport(outcomes, disagreements)

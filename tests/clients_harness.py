"""Shared by the clients' test modules: the tiny assessor, and sessions on the spec's
F_BC (each session its own chain) or on an embedded EVM with a market (a module
fixture holds that venue)."""

from hyperx.impl.clients.session import (
    RunOptions,
    build_session,
    connect,
    load_task,
    prepare_assessor,
    quality_config,
    spec_venue,
)
from hyperx.spec.config import BPS

TINY = RunOptions(providers=3, shards=8, quality="tiny")
# What the sessions pay: the reward R, the deposit D, and C = CF_% * R, the
# compensation of a candidate whose review stood unanswered.
R, D = TINY.reward_wei, TINY.deposit_wei
C = R * TINY.pct_bps // BPS


def make_embedded():
    """A venue: a fresh embedded EVM with a market, and its funding account."""
    return connect(TINY)


def make_assessor():
    config = quality_config("tiny")
    return prepare_assessor(config, load_task(config, 0), 0)


def new_session(venue, assessor, tmp_path, **kwargs):
    """A harness with the tiny options; kwargs go to RunOptions when they are its
    fields, else to build_session (misbehaviours, abort_after_review). `venue` is the
    module's embedded EVM, or None for a fresh F_BC of the spec."""
    fields = {k: v for k, v in kwargs.items() if k in RunOptions.__dataclass_fields__}
    extra = {k: v for k, v in kwargs.items() if k not in fields}
    options = RunOptions(**{**TINY.__dict__, "state_dir": tmp_path, **fields})
    return build_session(options, venue=venue or spec_venue(), assessor=assessor, **extra)


def net_of_fees(harness) -> dict:
    """Each party's balance change in the session, the fees it paid given back."""
    deltas = harness.deltas()
    return {party.address: deltas[party.address] + party.gas()[1] for party in harness.parties()}


def view_of(harness, only: int | None = None) -> dict:
    """`hyperx market status --json --session N` of the harness's market, from its first
    block: N is the harness's session unless `only` says another."""
    from hyperx.impl.clients.market_view import MarketView

    view = MarketView(harness.ledger, 0)
    view.update()
    return view.to_json(harness.collector.session() if only is None else only)


def events(harness, name: str) -> list:
    """The harness's session's `name` events, in chain order."""
    found = harness.ledger.events(0, harness.ledger.head())
    return [e for e in found if e.name == name and e.args["sid"] == harness.collector.session()]

"""Mutants of the spec (`hyperx.verify.mutants`: contract.py, parties.py, merkle.py)
and the mutation runner: the mutants are real, distinct, loadable edits of the spec,
and the suite kills them."""

import ast
from collections import Counter
from pathlib import Path

import pytest

import hyperx.spec.contract as spec
from hyperx.verify import runner
from hyperx.verify.mutants import (
    EQUIVALENT,
    SPEC_FILES,
    generate_mutants,
    get_mutant,
    get_mutant_ids,
    read_spec_source,
)
from hyperx.verify.refinement import load_trace, replay, run_refinement
from hyperx.verify.runner import PROFILES, VerifyProfile, run_mutant, select_mutants

COLLECTOR = "0x" + "11" * 20
PROVIDER = "0x" + "22" * 20

# A mutant run small enough for the default test run; `hyperx verify --mutants`
# uses the profile's own numbers.
SMALL = VerifyProfile(
    "test", schedules=0, min_steps=20, proof_examples=0, mutant_schedules=30, mutant_examples=30
)


@pytest.fixture(scope="module")
def mutants():
    return generate_mutants()


@pytest.fixture(scope="module")
def by_id(mutants):
    return {mutant.id: mutant for mutant in mutants}


def test_get_mutant_by_id(mutants):
    assert get_mutant(mutants[0].id).description == mutants[0].description
    with pytest.raises(KeyError, match="no mutant 'guard-nowhere' of contract.py"):
        get_mutant("guard-nowhere")


def test_mutants_of_the_parties_and_the_commitments_join_the_run():
    ids = get_mutant_ids()
    for filename in SPEC_FILES[1:]:
        prefix = filename.removesuffix(".py") + "-"
        assert sum(mutant_id.startswith(prefix) for mutant_id in ids) >= 5, filename
    kinds = Counter(m.kind for m in generate_mutants(filename="parties.py"))
    for kind in ("send", "exit", "return", "bound", "update"):
        assert kinds[kind] > 0, kind


def test_a_parties_mutant_runs_its_parties_and_the_real_contract():
    from hyperx.spec import parties
    from hyperx.spec.schedule import World

    bundle = get_mutant("parties-send-end_evaluation-set_candidate").load()
    assert bundle.contract is spec and bundle.parties is not parties
    assert bundle.parties.Collector.__module__ != parties.Collector.__module__
    outcomes = []
    for roles in (parties, bundle.parties):  # the same honest session, then the mutant's
        world = World(None, 3, roles, with_ideal=False)
        world.apply(
            {
                "op": "start_session",
                "reward": 1_000,
                "deposit": 100,
                "pct_bps": 2_500,
                "shards": 4,
                "evaluation_s": 600,
                "threshold": 0,
            }
        )
        world.apply({"op": "advance", "seconds": 3})
        world.apply({"op": "join", "provider": 0, "sid": 0, "quality": 5})
        world.finish()
        outcomes.append(world.views()[0].phase)
    assert outcomes == ["closed", "pending"]  # a collector that never sends SetCandidate


def test_a_merkle_mutant_is_seen_by_the_contract_and_the_parties():
    from hyperx.spec import merkle

    bundle = get_mutant("merkle-bound-is_valid_merkle_proof-op1").load()
    leaves = [bytes([i]) * 32 for i in range(4)]
    root, proof = merkle.compute_merkle_root(leaves), merkle.compute_merkle_proof(leaves, 0)
    # leaf 0 opens at position n = 4 too, once the bound on the index is off by one
    assert bundle.contract.is_valid_merkle_proof(leaves[0], 4, proof, root, 4)
    assert not spec.is_valid_merkle_proof(leaves[0], 4, proof, root, 4)
    assert bundle.parties.compute_merkle_root is not merkle.compute_merkle_root


def test_generates_at_least_15_distinct_mutants_that_differ_from_the_spec(mutants):
    original = ast.unparse(ast.parse(read_spec_source()))
    assert len(mutants) >= 100
    assert len({m.id for m in mutants}) == len(mutants)
    assert len({m.description for m in mutants}) == len(mutants)
    sources = [m.source for m in mutants]
    assert original not in sources
    assert len(set(sources)) == len(sources)


def test_every_mutant_compiles_into_a_module_with_the_spec_api(mutants):
    for mutant in mutants:
        module = mutant.load().contract
        assert module.__package__ == "hyperx.spec"
        assert module.INTERFACES.keys() == spec.INTERFACES.keys()
        assert module.PAYABLE == spec.PAYABLE
        assert {"MarketState", "Msg", "TradeState", "get_escrow"} <= vars(module).keys()


def test_one_guard_mutant_per_assert_of_the_transitions(mutants):
    tree = ast.parse(read_spec_source())
    transitions = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and (node.name.startswith("process_") or node.name == "get_session")
    ]
    asserts = sum(isinstance(n, ast.Assert) for f in transitions for n in ast.walk(f))
    kinds = Counter(m.kind for m in mutants)
    assert kinds["guard"] == asserts
    for kind in ("bound", "recipient", "amount", "promotion", "flag", "update"):
        assert kinds[kind] > 0, kind


def test_descriptions_name_the_mutated_line(mutants):
    lines = read_spec_source().splitlines()
    for mutant in mutants:
        assert mutant.description.startswith(f"contract.py:{mutant.line} {mutant.function}: ")
        if mutant.kind == "guard":
            assert lines[mutant.line - 1].lstrip().startswith("assert "), mutant.id


def test_observers_are_not_mutated(mutants):
    assert not any(m.function in ("get_escrow", "get_final_deadline") for m in mutants)


def test_operators_on_a_small_source():
    source = """
def process_pay(state, msg, session):
    assert msg.value < 3, "hyperx: too much"
    session.st_trade = 2
    session.refund_claimed = True
    msg.transfer(msg.sender, msg.value)


def get_escrow(session):
    assert session, "hyperx: observer"
"""
    ids = [m.id for m in generate_mutants(source)]
    assert ids == [
        "guard-pay-too-much",
        "bound-pay-too-much-op0",
        "bound-pay-too-much-arg1minus1",
        "promotion-pay-st_trade",
        "flag-pay-refund_claimed",
        "recipient-pay-to-collector",
        "recipient-pay-to-candidate",
        "recipient-pay-to-optimal",
        "amount-pay-overpay",
    ]
    edited = {m.id: m.source for m in generate_mutants(source)}
    assert "msg.value <= 3" in edited["bound-pay-too-much-op0"]
    assert "msg.value < 2" in edited["bound-pay-too-much-arg1minus1"]
    assert "msg.transfer(session.collector, msg.value)" in edited["recipient-pay-to-collector"]
    assert "msg.transfer(msg.sender, msg.value + 1)" in edited["amount-pay-overpay"]
    assert "session.st_trade" not in edited["promotion-pay-st_trade"]


def test_removed_collector_guard_lets_a_provider_sample(by_id):
    mutant = by_id["guard-sample_data-caller-is-not-the-collector"].load().contract
    for module, allowed in ((spec, False), (mutant, True)):
        state = module.MarketState()
        sid = module.process_create_session(
            state, module.Msg(COLLECTOR, 100, 0), 100, 10, 5_000, 4, 1_000, 300, 300, b"\x01" * 32
        )
        module.process_registration(
            state, module.Msg(PROVIDER, 10, 1), sid, b"\x02" * 32, 4, b"\x03" * 32
        )
        if allowed:
            module.process_sample_data(state, module.Msg(PROVIDER, 0, 2), sid, PROVIDER, [0])
            assert state.sessions[sid].profiles[PROVIDER].sample_count == 1
        else:
            with pytest.raises(AssertionError, match="hyperx: caller is not the collector"):
                module.process_sample_data(state, module.Msg(PROVIDER, 0, 2), sid, PROVIDER, [0])


def test_equivalent_table_names_existing_mutants_with_reasons():
    every = set(get_mutant_ids())  # of every mutated file
    for mutant_id, reason in EQUIVALENT.items():
        assert mutant_id in every, f"stale EQUIVALENT entry {mutant_id}"
        assert len(reason) > 20


def test_control_passes_on_the_unmutated_spec():
    """The kills below mean something only if the same checks pass on the spec."""
    control = runner._run_mutant_by_id(runner.CONTROL, SMALL)
    assert control.error is None
    assert control.killed_by is None


@pytest.mark.parametrize(
    "mutant_id",
    [
        "guard-sample_data-caller-is-not-the-collector",
        "recipient-claim_deposit-to-collector",
        "flag-claim_deposit-deposit_claimed",
        "parties-send-handle-claim_reward",
        "merkle-bound-is_valid_merkle_proof-op0",
    ],
)
def test_suite_kills_mutant(by_id, mutant_id):
    outcome = run_mutant(get_mutant(mutant_id), SMALL)
    assert outcome.killed, f"{mutant_id} survived the differential check and the refinement"
    assert outcome.id == mutant_id


def test_sample_is_the_same_subset_every_time(mutants):
    sample = select_mutants(20)
    assert len(sample) == 20
    assert sample == select_mutants(20)
    order = get_mutant_ids()
    assert sample == sorted(sample, key=order.index)
    assert select_mutants() == order


def test_profiles_meet_the_issue_numbers():
    assert PROFILES["quick"].schedules >= 1_000
    assert PROFILES["thorough"].schedules >= 100 * PROFILES["quick"].schedules
    assert all(profile.min_steps >= 20 for profile in PROFILES.values())


@pytest.mark.parametrize(
    "mutant_id",
    [
        "parties-send-answer_review-dispute_review",  # the collector pays for a junk review
        "parties-return-fetch_dataset-true-4",  # it promotes a provider whose data is not there
    ],
)
def test_economic_adversary_kills_what_the_collector_must_not_let_pass(mutant_id):
    """Each mutant passes a short refinement run; the named strategies (a junk review,
    a withholding provider) show an honest party paying for it."""
    from hyperx.verify.economics import run_economics, spec_world

    bundle = get_mutant(mutant_id).load()
    report = run_economics({"spec": lambda: spec_world(bundle.contract, bundle.parties)})
    assert not report.ok
    assert any("honest C loses" in p for o in report.outcomes for p in o.problems)


@pytest.mark.parametrize(
    ("mutant_id", "symptom"),
    [
        # prompt: a pull sent one block late
        ("parties-bound-is_settled-op0", "has not sent its claim_"),
        # thrifty: a call broadcast after its window closed
        ("parties-exit-send", "in vain: "),
        # reads right: a party that misses the deadline SubmitReview sets
        ("parties-update-apply-deadline", "otherwise than its final events say"),
        # keeps what it paid for: the compensated sample thrown away
        ("parties-update-answer_review-plaintexts", "does not keep"),
        # ... and says so: a dataset one junk shard short reported verified
        ("parties-update-answer_claim-verified-2", "verified=True for a dataset it holds 7"),
        # the join policy: a provider that registers in X's session
        ("parties-exit-on_timers-2", "asked to join by no one"),
    ],
)
def test_each_watch_of_the_verifier_kills_the_mutant_it_is_for(mutant_id, symptom):
    """The checks added for issue 9's last gaps, each broken on purpose once: a short
    refinement run or the economic strategies name the symptom."""
    from hyperx.verify.economics import run_economics, spec_world

    bundle = get_mutant(mutant_id).load()
    with runner.without_shrinking():
        refinement = run_refinement(
            bundle.contract, parties_module=bundle.parties, schedules=100, min_steps=20, seed=0
        )
    economics = run_economics({"spec": lambda: spec_world(bundle.contract, bundle.parties)})
    problems = [refinement.message or ""] + [p for o in economics.outcomes for p in o.problems]
    assert any(symptom in problem for problem in problems), problems


def test_the_collusion_plan_reaches_a_promoted_junk_review():
    """A candidate seals junk, a corrupted collector promotes it all the same: in that
    state the role sweep must find a dispute of the review refused (the saved trace of
    COLLUSION_PLANS passes on the spec and fails on the mutant without the guard)."""
    trace = load_trace(Path(__file__).parent / "traces" / "collector_promotes_a_junk_review.json")
    assert replay(trace).failures == 0
    bundle = get_mutant("guard-dispute_review-session-is-not-reviewing").load()
    report = replay(trace, bundle.contract, bundle.parties)
    assert "dispute_review" in report.message and "policy refuses it" in report.message

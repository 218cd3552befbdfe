"""Deciding one proof obligation, and finding a real counterexample when it fails.

An obligation is a `query(s, m) -> Query` over a state and a call: valid when the
hypotheses imply every named fact. It is decided first over a fresh state
(`model.fresh_state`), so unsat is a proof for every state, whatever the number of
providers. When it is not unsat, Z3's search for a model of the quantified invariants
over unbounded arrays often runs out of time instead of answering sat; so the
counterexample is looked for again among states with a bounded set of providers:
every array differs from its empty default at `PROVIDERS` symbolic addresses only
(`bounded_state`), and each quantifier of the hypotheses is instantiated at those
addresses, at 0, at one other address and at the first positions (which covers every
address and position of such a state, since any other one reads as empty). The model
found is then checked against the hypotheses as written, quantifiers and all, before
it is reported: a reported counterexample is a state in which they hold, the step is
accepted and the named facts fail.
"""

from collections.abc import Callable
from dataclasses import dataclass

import z3

from .model import ANY_CALL, ANY_STATE, FIELD_NAMES, Call, State, field_sort

PROVIDERS = 4  # addresses of a bounded state where the arrays may be non-empty


@dataclass(frozen=True)
class Query:
    hypotheses: list  # what is assumed: the invariant, the step's guard, ...
    facts: dict  # fact name -> formula; the claim is their conjunction
    words: dict  # name -> term, whose values a counterexample reports


def decide(query: Callable[[State, Call], Query], timeout_ms: int) -> tuple[str, str]:
    """('proved', ''), ('failed', a description of a counterexample), or ('unknown',
    why)."""
    q = query(ANY_STATE, ANY_CALL)
    solver = _solver(timeout_ms)
    solver.add(*q.hypotheses, z3.Not(z3.And(*q.facts.values())))
    verdict = solver.check()
    if verdict == z3.unsat:
        return "proved", ""
    if verdict == z3.sat:
        return "failed", describe(solver.model(), q)
    reason = solver.reason_unknown()
    found = find_counterexample(query, timeout_ms)
    return ("failed", found) if found else ("unknown", reason)


def find_counterexample(
    query: Callable[[State, Call], Query], timeout_ms: int, providers: int = PROVIDERS
) -> str | None:
    """A counterexample among states with `providers` non-empty addresses, checked
    against the hypotheses as written; None if none is found in time."""
    addresses = [z3.Int(f"cex.address{k}") for k in range(providers)]
    other = z3.Int("cex.other")
    s = bounded_state("s", addresses, providers)
    q = query(s, ANY_CALL)
    terms = [*addresses, z3.IntVal(0), other, *(z3.IntVal(k) for k in range(providers))]
    solver = _solver(timeout_ms)
    solver.add(*(instantiate(h, terms) for h in q.hypotheses))
    solver.add(z3.Not(z3.And(*q.facts.values())))
    solver.add(z3.Distinct(*addresses, z3.IntVal(0), other), s.unclaimed <= providers)
    # Rather a counterexample whose addresses, times and amounts are not negative.
    readable = [a > 0 for a in addresses] + [w >= 0 for w in q.words.values() if z3.is_int(w)]
    for extra in (readable, []):
        solver.push()
        solver.add(*extra)
        if solver.check() == z3.sat:
            model = solver.model()
            if all(holds(model, h, timeout_ms) for h in q.hypotheses):
                return describe(model, q)
        solver.pop()
    return None


def bounded_state(prefix: str, addresses: list, positions: int) -> State:
    """A state whose arrays are empty (False, 0) except at `addresses` (at positions
    0 .. positions-1 for the enumeration of held deposits)."""
    values = {}
    for name in FIELD_NAMES:
        sort = field_sort(name)
        if not isinstance(sort, z3.ArraySortRef):
            values[name] = z3.Const(f"{prefix}.{name}", sort)
            continue
        empty = z3.BoolVal(False) if sort.range() == z3.BoolSort() else z3.IntVal(0)
        array = z3.K(sort.domain(), empty)
        keys = [z3.IntVal(k) for k in range(positions)] if name == "unclaimed_at" else addresses
        for k, key in enumerate(keys):
            array = z3.Store(array, key, z3.Const(f"{prefix}.{name}[{k}]", sort.range()))
        values[name] = array
    return State(**values)


def instantiate(formula: z3.BoolRef, terms: list) -> z3.BoolRef:
    """`formula` with each universal quantifier (of one variable) replaced by the
    conjunction of its body at `terms`: implied by `formula`."""
    done: dict = {}

    def walk(e):
        key = e.get_id()
        if key not in done:
            if z3.is_quantifier(e):
                assert e.is_forall() and e.num_vars() == 1, "hyperx: one-variable ForAll only"
                done[key] = z3.And(*(walk(z3.substitute_vars(e.body(), t)) for t in terms))
            elif z3.is_app(e) and e.num_args() > 0:
                done[key] = e.decl()(*(walk(child) for child in e.children()))
            else:
                done[key] = e
        return done[key]

    return walk(formula)


def holds(model: z3.ModelRef, formula: z3.BoolRef, timeout_ms: int) -> bool:
    """Does `formula` hold in `model`? (Quantifiers left by the evaluation are over
    the model's concrete arrays, and decided by a solver.)"""
    value = model.eval(formula, model_completion=True)
    if z3.is_true(value) or z3.is_false(value):
        return z3.is_true(value)
    solver = _solver(timeout_ms)
    solver.add(z3.Not(value))
    return solver.check() == z3.unsat


def describe(model: z3.ModelRef, q: Query) -> str:
    """The facts the counterexample violates, and the values of the query's words."""
    violated = [name or "claim" for name, fact in q.facts.items() if not holds(model, fact, 2_000)]
    values = ", ".join(
        f"{name}={model.eval(term, model_completion=True)}" for name, term in q.words.items()
    )
    return f"violates {', '.join(violated) or 'claim'}; {values}"[:2000]


def _solver(timeout_ms: int) -> z3.Solver:
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    return solver

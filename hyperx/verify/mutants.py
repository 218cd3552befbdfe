"""Mutants of Prot_SC (`hyperx.spec.contract`), to show that the proofs and the
refinement suite bite.

Each mutant is one small `ast` edit of the spec's source, compiled into a fresh
module with the same API (`INTERFACES`, `MarketState`, `Msg`, ...), so that
`run_proofs(mutant.load())` and `run_refinement(mutant.load(), ...)` run it in place
of the real contract. The operators:

- `guard`: one `assert` (a `# Verify ...` guard) removed;
- `bound`: one ordering comparison off by one (`<` <-> `<=`, `>` <-> `>=`), or one
  of its constant operands (`0`, `BPS`, `MAX_*`) moved inwards by one;
- `recipient`: one transfer paid to another party;
- `amount`: one transfer paying one wei more, or one term of a payout omitted
  (the compensation, the forfeited deposit);
- `promotion`, `flag`, `update`: one write to the session's or a profile's state
  skipped (a `st_trade` promotion, a `... = True` flag, any other field).

Only the code the interfaces run is mutated (the `process_*` functions and what
they call); observers such as `get_escrow` are left alone, since a mutant there
changes the checker, not the contract.

`EQUIVALENT` lists the mutants that no test can kill, each with the reason; a
survivor missing from it is a gap in the suite and is reported as such.
"""

import ast
import copy
import itertools
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import ModuleType

SPEC_PACKAGE = "hyperx.spec"
SPEC_FILE = "contract.py"

# Parties a transfer could wrongly pay, as expressions of the transition's scope.
RECIPIENTS = ("msg.sender", "session.collector", "session.candidate", "session.optimal")

_FLIPPED = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}

# Mutants analysed and found equivalent to the spec: on every call, the same
# accept/reject, state change and transfers. "Up to the reason" marks the ones where
# another guard rejects the same calls with another revert string.
EQUIVALENT = {
    "recipient-claim_reward-to-optimal": (
        "claim_reward asserts msg.sender == session.optimal before it pays, "
        "so paying session.optimal is paying msg.sender"
    ),
    "recipient-claim_reward-to-candidate": (
        "set_optimal asserts pid == session.candidate and the candidate is set once, "
        "so session.candidate == session.optimal == msg.sender when claim_reward pays"
    ),
    "recipient-claim_refund-to-collector": (
        "claim_refund asserts msg.sender == session.collector before it pays, "
        "so paying session.collector is paying msg.sender"
    ),
    "bound-create_session-cf-pct-out-of-range-op0": (
        "up to the reason: cf_pct_bps == 0 fails the next guard, "
        "cf_shards * cf_pct_bps >= BPS ('sample bound is zero')"
    ),
    "bound-create_session-shard-count-out-of-range-op0": (
        "up to the reason: cf_shards == 0 fails the next guard, "
        "cf_shards * cf_pct_bps >= BPS ('sample bound is zero')"
    ),
    "guard-submit_review-session-is-not-reviewing": (
        "the candidate is set only with st_trade = REVIEWING, and REVIEWED or CLOSED "
        "imply review_submitted, which the next guard rejects (Z3 proof "
        "redundant_guard_submit_review_is_reviewing)"
    ),
    "guard-claim_reward-session-is-not-reviewed": (
        "up to the reason: session.optimal is set only with st_trade = REVIEWED; once "
        "CLOSED, chunks_revealed == get_chunk_count, so is_valid_chunk rejects every "
        "chunk index the order guard lets through"
    ),
}


@dataclass(frozen=True)
class Mutant:
    """One edit of the spec: `load()` gives the mutated module."""

    id: str
    kind: str
    line: int
    function: str
    description: str
    tree: ast.Module = field(repr=False, compare=False)

    @property
    def source(self) -> str:
        return ast.unparse(self.tree)

    def load(self) -> ModuleType:
        """Compile the mutated tree into a fresh module of package `hyperx.spec`,
        so that its relative imports (`.config`, `.merkle`) resolve. The module is
        registered in `sys.modules` (dataclasses and pickling look it up there)."""
        name = f"{SPEC_PACKAGE}._mutant_{_identifier(self.id)}"
        module = ModuleType(name, f"Prot_SC with mutant {self.id}: {self.description}")
        module.__package__ = SPEC_PACKAGE
        module.__file__ = f"{SPEC_FILE} [mutant {self.id}]"
        sys.modules[name] = module
        exec(compile(self.tree, module.__file__, "exec"), module.__dict__)
        return module


@dataclass(frozen=True)
class _Edit:
    kind: str
    suffix: str
    what: str
    apply: Callable[[ast.AST, ast.Module], None]  # edits the node in place


def read_spec_source() -> str:
    return resources.files(SPEC_PACKAGE).joinpath(SPEC_FILE).read_text()


def generate_mutants(source: str | None = None) -> list[Mutant]:
    """Every mutant of the spec's source (the installed `contract.py` by default),
    in source order. Ids are stable while the source does not change."""
    source = read_spec_source() if source is None else source
    original = ast.parse(source)
    functions = _reachable_functions(original)
    owner, guard_of = {}, {}
    for function in original.body:
        if isinstance(function, ast.FunctionDef) and function.name in functions:
            for node in ast.walk(function):
                owner[node] = function.name
                if isinstance(node, ast.Assert):
                    guard_of.update((inner, _guard_reason(node)) for inner in ast.walk(node))
    sites = sorted(
        (
            (node.lineno, node.col_offset, index, node, edit)
            for index, node in enumerate(ast.walk(original))
            if node in owner
            for edit in _edits(node, owner[node])
        ),
        key=lambda site: site[:3],
    )
    mutants, seen = [], Counter()
    for line, _, index, node, edit in sites:
        tree = ast.parse(source)  # a fresh copy: parsing is faster than deepcopy
        target = next(itertools.islice(ast.walk(tree), index, None))
        edit.apply(target, tree)
        ast.fix_missing_locations(target)
        function = owner[node]
        parts = (edit.kind, function.removeprefix("process_"), _slug(guard_of.get(node, "")))
        mutant_id = "-".join(part for part in (*parts, edit.suffix) if part)
        seen[mutant_id] += 1
        if seen[mutant_id] > 1:
            mutant_id += f"-{seen[mutant_id]}"
        description = f"{SPEC_FILE}:{line} {function}: {edit.what}"
        mutants.append(Mutant(mutant_id, edit.kind, line, function, description, tree))
    return mutants


@cache
def _spec_mutants() -> dict[str, Mutant]:
    return {mutant.id: mutant for mutant in generate_mutants()}


def get_mutant_ids() -> list[str]:
    """The ids of the installed spec's mutants, in source order."""
    return list(_spec_mutants())


def get_mutant(mutant_id: str) -> Mutant:
    """One mutant of the installed spec, by id (generated once per process)."""
    mutants = _spec_mutants()
    if mutant_id not in mutants:
        raise KeyError(f"no mutant {mutant_id!r} of {SPEC_FILE}")
    return mutants[mutant_id]


def _guard_reason(node: ast.Assert) -> str:
    if isinstance(node.msg, ast.Constant):
        return node.msg.value.removeprefix("hyperx: ")
    return ast.unparse(node.test)


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _identifier(mutant_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in mutant_id)


def _reachable_functions(tree: ast.Module) -> set[str]:
    """The `process_*` transitions and every module function they call."""
    calls = {
        node.name: {
            call.func.id
            for call in ast.walk(node)
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
        }
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }
    reached = {name for name in calls if name.startswith("process_")}
    frontier = list(reached)
    while frontier:
        for callee in calls[frontier.pop()]:
            if callee in calls and callee not in reached:
                reached.add(callee)
                frontier.append(callee)
    return reached


def _edits(node: ast.AST, function: str) -> Iterator[_Edit]:
    if isinstance(node, ast.Assert):
        yield _Edit("guard", "", f"guard {_guard_reason(node)!r} removed", _remove_statement)
    elif isinstance(node, ast.Compare):
        yield from _bound_edits(node)
    elif _is_transfer(node):
        yield from _transfer_edits(node)
    elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        term = node.value.func if isinstance(node.value, ast.Call) else node.value
        name = term.attr if isinstance(term, ast.Attribute) else ast.unparse(term)
        yield _Edit("amount", f"no-{name}", f"`{ast.unparse(node)}` omitted", _remove_statement)
    elif function.startswith("process_") and isinstance(node, ast.Assign | ast.AugAssign):
        yield from _state_write_edits(node)


def _remove_statement(node: ast.AST, tree: ast.Module) -> None:
    """Replace the statement by `pass` (its block may hold nothing else)."""
    for parent in ast.walk(tree):
        for _, value in ast.iter_fields(parent):
            if isinstance(value, list) and node in value:
                value[value.index(node)] = ast.copy_location(ast.Pass(), node)
                return
    raise AssertionError(f"statement at line {node.lineno} not found in the tree")


def _bound_edits(compare: ast.Compare) -> Iterator[_Edit]:
    if not any(type(op) in _FLIPPED for op in compare.ops):
        return
    for position, op in enumerate(compare.ops):
        if type(op) in _FLIPPED:

            def flip(node, tree, position=position):
                node.ops[position] = _FLIPPED[type(node.ops[position])]()

            yield _Edit("bound", f"op{position}", _rewrite(compare, flip), flip)
    operands = [compare.left, *compare.comparators]
    last = len(operands) - 1
    for position, operand in enumerate(operands):
        is_int = isinstance(operand, ast.Constant) and type(operand.value) is int
        is_named_bound = isinstance(operand, ast.Name) and operand.id.isupper()
        if not (is_int or is_named_bound) or 0 < position < last:
            continue
        # Move the bound inwards, so one more value fails. Moving it outwards is,
        # over the integers, the flipped operator above (`x < c + 1` is `x <= c`).
        op = compare.ops[0] if position == 0 else compare.ops[-1]
        is_upper = isinstance(op, ast.Lt | ast.LtE) != (position == 0)
        delta = -1 if is_upper else 1

        def shift(node, tree, position=position, delta=delta):
            old = [node.left, *node.comparators][position]
            if isinstance(old, ast.Constant):
                new = ast.Constant(old.value + delta)
            else:
                new = ast.BinOp(old, ast.Add() if delta > 0 else ast.Sub(), ast.Constant(1))
            if position == 0:
                node.left = new
            else:
                node.comparators[position - 1] = new

        suffix = f"arg{position}{'plus' if delta > 0 else 'minus'}1"
        yield _Edit("bound", suffix, _rewrite(compare, shift), shift)


def _rewrite(node: ast.AST, edit: Callable) -> str:
    after = copy.deepcopy(node)
    edit(after, None)
    return f"`{ast.unparse(node)}` -> `{ast.unparse(after)}`"


def _is_transfer(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "transfer"
        and ast.unparse(node.func.value) == "msg"
    )


def _transfer_edits(call: ast.Call) -> Iterator[_Edit]:
    recipient, amount = (ast.unparse(arg) for arg in call.args)
    for other in RECIPIENTS:
        if other == recipient:
            continue

        def pay_other(node, tree, other=other):
            expression = ast.parse(other, mode="eval").body
            for part in ast.walk(expression):
                ast.copy_location(part, node.args[0])
            node.args[0] = expression

        what = f"pays {amount} to {other}, not {recipient}"
        yield _Edit("recipient", "to-" + other.split(".")[-1], what, pay_other)

    def overpay(node, tree):
        node.args[1] = ast.BinOp(node.args[1], ast.Add(), ast.Constant(1))

    yield _Edit("amount", "overpay", f"pays {recipient} {amount} + 1 wei", overpay)


def _state_write_edits(node: ast.Assign | ast.AugAssign) -> Iterator[_Edit]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if not all(isinstance(t, ast.Attribute | ast.Subscript) for t in targets):
        return
    if any(isinstance(t, ast.Attribute) and t.attr == "st_trade" for t in targets):
        kind = "promotion"
    elif isinstance(node.value, ast.Constant) and isinstance(node.value.value, bool):
        kind = "flag"
    else:
        kind = "update"
    target = targets[0].value if isinstance(targets[0], ast.Subscript) else targets[0]
    suffix = target.attr if isinstance(target, ast.Attribute) else ""
    yield _Edit(kind, suffix, f"`{ast.unparse(node)}` skipped", _remove_statement)

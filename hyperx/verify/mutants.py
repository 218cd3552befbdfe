"""Mutants of the spec (`hyperx.spec.contract`, `hyperx.spec.parties`,
`hyperx.spec.merkle`), to show that the proofs and the refinement suite bite.

Each mutant is one small `ast` edit of one of these files, compiled into a fresh
module with the same API, and loaded as a `SpecBundle`: the Prot_SC module and the
parties module the real world then runs (a mutant of `merkle.py` is seen by both,
through their imports). The operators:

- `guard`: one `assert` (a `# Verify ...` guard) removed;
- `bound`: one ordering comparison off by one (`<` <-> `<=`, `>` <-> `>=`), or one
  of its constant operands (`0`, `BPS`, `MAX_*`) moved inwards by one;
- `recipient`: one transfer paid to another party;
- `amount`: one transfer paying one wei more, or one term of a payout omitted
  (the compensation, the forfeited deposit);
- `promotion`, `flag`, `update`: one write to the state skipped (a `st_trade`
  promotion, a `... = True` flag, any other field; in the parties, any field of a
  party's own bookkeeping);
- `send` (parties): one transaction a party sends never sent;
- `exit` (parties): one early `return` or `continue` of a party's logic removed,
  so it acts where it should not;
- `return` (parties): one `return True`/`return False` flipped.

In `contract.py` only the code the interfaces run is mutated (the `process_*`
functions and what they call); observers such as `get_escrow` are left alone, since
a mutant there changes the checker, not the contract. In `parties.py`, every method
of the parties and the module functions they call; in `merkle.py`, every function.
Mutants of `contract.py` keep their plain ids; the others are prefixed with their
file (`parties-...`, `merkle-...`).

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
SPEC_FILES = ("contract.py", "parties.py", "merkle.py")

# Parties a transfer could wrongly pay, as expressions of the transition's scope.
RECIPIENTS = ("msg.sender", "session.collector", "session.candidate", "session.optimal")

_FLIPPED = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}

# Mutants analysed and found equivalent to the spec: on every call, the same
# accept/reject, state change and transfers. "Up to the reason" marks the ones where
# another guard rejects the same calls with another revert string.
EQUIVALENT = {
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
    "guard-dispute_review-review-not-submitted": (
        "up to the reason: before SubmitReview the delivery digest is zero, and no "
        "delivery hashes to zero, so 'not the submitted review' rejects the same calls"
    ),
    "guard-dispute_claim-session-is-not-closed": (
        "up to the reason: before ClaimReward the delivery digest is zero or the "
        "review's, whose ABI encoding (three dynamic fields, 256 bytes and more) is "
        "never a claim's (160 bytes), so 'not the delivered key' rejects the same calls"
    ),
    "merkle-bound-get_merkle_depth-op0": (
        "(n - 1).bit_length() is 0 at n = 1 too; n = 0 never reaches it (cf_shards >= 1, "
        "and a dataset has cf_shards leaves)"
    ),
    "merkle-guard-compute_merkle_root-a-commitment-needs-at-least-one-shard": (
        "up to the exception: without the guard an empty list fails on indexing; no "
        "caller commits to zero shards (cf_shards >= 1)"
    ),
    "parties-exit-decode_manifest": (
        "a manifest whose length is not a multiple of 64 then decodes to a ragged last "
        "entry, and fetch_dataset refuses it all the same: its leaves do not give the "
        "registered root"
    ),
    "parties-exit-answer_review-2": (
        "without this continue a junk shard is kept as None: the sample is already "
        "marked incomplete, so the candidate is not promoted, and a None is no "
        "provider's plaintext, so nothing the collector holds changes"
    ),
    "parties-bound-on_timers-op1": (
        "at final_time == deadline the head is past the deadline too, and send() does not "
        "broadcast a set_candidate that can no longer land (can_land): the mutant's "
        "EndEvaluation then only reads F_DS"
    ),
    "parties-exit-_rebroadcast": (
        "with an empty outbox the loop that follows does nothing: the early return only "
        "skips reading the mempool"
    ),
}


@dataclass(frozen=True)
class SpecBundle:
    """What the real world runs: Prot_SC, and the module of Prot_COL and Prot_PRI."""

    contract: ModuleType
    parties: ModuleType


def get_spec_bundle() -> SpecBundle:
    """The unmutated spec."""
    from hyperx.spec import contract, parties

    return SpecBundle(contract, parties)


@dataclass(frozen=True)
class Mutant:
    """One edit of one file of the spec: `load()` gives the bundle that runs it."""

    id: str
    kind: str
    file: str
    line: int
    function: str
    description: str
    original: str = field(repr=False, compare=False)  # the file's source
    site: int = field(repr=False, compare=False)  # the edited node's index in ast.walk order
    edit: "_Edit" = field(repr=False, compare=False)

    @property
    def tree(self) -> ast.Module:
        """The mutated tree, built on demand (parsing every mutant up front is slow)."""
        tree = ast.parse(self.original)
        target = next(itertools.islice(ast.walk(tree), self.site, None))
        self.edit.apply(target, tree)
        ast.fix_missing_locations(target)
        return tree

    @property
    def source(self) -> str:
        return ast.unparse(self.tree)

    def load(self) -> SpecBundle:
        """Compile the mutated tree into a fresh module of package `hyperx.spec`, so
        that its relative imports resolve; a mutant of merkle.py is bound into fresh
        copies of contract.py and parties.py (they import its functions by name)."""
        mutated = _compile(self.tree, self.file, self.id)
        original = get_spec_bundle()
        if self.file == "contract.py":
            return SpecBundle(mutated, original.parties)
        if self.file == "parties.py":
            return SpecBundle(original.contract, mutated)
        bound = [
            _compile(ast.parse(read_spec_source(name)), name, self.id, rebind=mutated)
            for name in ("contract.py", "parties.py")
        ]
        return SpecBundle(*bound)


def _compile(tree: ast.Module, filename: str, mutant_id: str, rebind=None) -> ModuleType:
    """A fresh module of `hyperx.spec` from `tree`, registered in `sys.modules`
    (dataclasses and pickling look it up there); with `rebind`, every name it
    imported from merkle.py is replaced by that module's version."""
    stem = filename.removesuffix(".py")
    name = f"{SPEC_PACKAGE}._mutant_{_identifier(mutant_id)}_{stem}"
    module = ModuleType(name, f"{filename} with mutant {mutant_id}")
    module.__package__ = SPEC_PACKAGE
    module.__file__ = f"{filename} [mutant {mutant_id}]"
    sys.modules[name] = module
    exec(compile(tree, module.__file__, "exec"), module.__dict__)
    if rebind is not None:
        from hyperx.spec import merkle

        for attribute, value in list(vars(module).items()):
            if getattr(merkle, attribute, None) is value and hasattr(rebind, attribute):
                setattr(module, attribute, getattr(rebind, attribute))
    return module


@dataclass(frozen=True)
class _Edit:
    kind: str
    suffix: str
    what: str
    apply: Callable[[ast.AST, ast.Module], None]  # edits the node in place


def read_spec_source(filename: str = SPEC_FILE) -> str:
    return resources.files(SPEC_PACKAGE).joinpath(filename).read_text()


def generate_mutants(source: str | None = None, filename: str = SPEC_FILE) -> list[Mutant]:
    """Every mutant of one spec file's source (the installed file by default), in
    source order. Ids are stable while the source does not change."""
    source = read_spec_source(filename) if source is None else source
    original = ast.parse(source)
    owner, guard_of = {}, {}
    for function in _mutable_functions(original, filename):
        for statement in function.body:  # a function's own return is no early exit
            statement._hyperx_last = isinstance(statement, ast.Return)
        for node in ast.walk(function):
            owner[node] = function.name
            if isinstance(node, ast.Assert):
                guard_of.update((inner, _guard_reason(node)) for inner in ast.walk(node))
    sites = sorted(
        (
            (node.lineno, node.col_offset, index, node, edit)
            for index, node in enumerate(ast.walk(original))
            if node in owner
            for edit in _edits(node, owner[node], filename)
        ),
        key=lambda site: site[:3],
    )
    prefix = "" if filename == SPEC_FILE else filename.removesuffix(".py") + "-"
    mutants, seen = [], Counter()
    for line, _, index, node, edit in sites:
        function = owner[node]
        parts = (edit.kind, function.removeprefix("process_"), _slug(guard_of.get(node, "")))
        mutant_id = prefix + "-".join(part for part in (*parts, edit.suffix) if part)
        seen[mutant_id] += 1
        if seen[mutant_id] > 1:
            mutant_id += f"-{seen[mutant_id]}"
        description = f"{filename}:{line} {function}: {edit.what}"
        mutants.append(
            Mutant(mutant_id, edit.kind, filename, line, function, description, source, index, edit)
        )
    return mutants


@cache
def _spec_mutants() -> dict[str, Mutant]:
    return {m.id: m for filename in SPEC_FILES for m in generate_mutants(filename=filename)}


def get_mutant_ids() -> list[str]:
    """The ids of the installed spec's mutants, file by file, in source order."""
    return list(_spec_mutants())


def get_mutant(mutant_id: str) -> Mutant:
    """One mutant of the installed spec, by id (generated once per process)."""
    mutants = _spec_mutants()
    if mutant_id not in mutants:
        raise KeyError(f"no mutant {mutant_id!r} of {', '.join(SPEC_FILES)}")
    return mutants[mutant_id]


def _mutable_functions(tree: ast.Module, filename: str) -> list[ast.FunctionDef]:
    """contract.py: the transitions and what they call; the others: every function
    and every method but constructors (a skipped field there only crashes)."""
    if filename == SPEC_FILE:
        reachable = _reachable_functions(tree)
        return [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in reachable]
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            functions += [
                n for n in node.body if isinstance(n, ast.FunctionDef) and n.name != "__init__"
            ]
    return functions


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


def _edits(node: ast.AST, function: str, filename: str = SPEC_FILE) -> Iterator[_Edit]:
    if filename == "parties.py":
        yield from _party_edits(node)
        return
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


def _party_edits(node: ast.AST) -> Iterator[_Edit]:
    """A party that misjudges a bound, never sends a transaction, skips an early
    exit of its logic, answers a check the other way, or forgets what it noted."""
    if isinstance(node, ast.Compare):
        yield from _bound_edits(node)
    elif isinstance(node, ast.Expr) and _is_send(node.value):
        what = f"`{ast.unparse(node.value)[:60]}` never sent"
        yield _Edit("send", _sent_name(node.value), what, _remove_statement)
    elif isinstance(node, ast.Return | ast.Continue) and not _is_last(node):
        if isinstance(node, ast.Return) and _is_bool(node.value):

            def flip(node, tree):
                node.value = ast.Constant(not node.value.value)

            yield _Edit("return", str(not node.value.value).lower(), _rewrite(node, flip), flip)
        yield _Edit("exit", "", f"early `{ast.unparse(node)}` removed", _remove_statement)
    elif isinstance(node, ast.Assign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        written = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
        if all(isinstance(t, ast.Attribute | ast.Subscript) for t in written):
            what = f"`{ast.unparse(node)[:60]}` skipped"
            name = "-".join(filter(None, map(_written_name, written)))
            yield _Edit("update", name, what, _remove_statement)


def _is_send(call: ast.AST) -> bool:
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "send"
        and ast.unparse(call.func.value) == "self"
    )


def _sent_name(call: ast.Call) -> str:
    names = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return names[0] if names else ""


def _is_bool(value: ast.AST | None) -> bool:
    return isinstance(value, ast.Constant) and isinstance(value.value, bool)


def _is_last(node: ast.AST) -> bool:
    """Is the statement the last one of a function body (not an early exit)?
    Set by `_mark_last` on the fresh tree before edits are listed."""
    return getattr(node, "_hyperx_last", False)


def _written_name(target: ast.AST) -> str:
    while isinstance(target, ast.Subscript):
        target = target.value
    return target.attr if isinstance(target, ast.Attribute) else ""


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

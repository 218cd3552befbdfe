"""Exact decoding of obfuscated features (paper Eq. 1-3, `hyperx.spec.obfuscation`).

Three facts, over the reals:
- the adopted form decodes exactly, per output channel, for every nonzero delta:
  ((delta * z + sigma) - sigma) / delta = z;
- the spec's own functions (`compute_obfuscated_layer`, `compute_linear`,
  `decode_features`) run on symbolic reals decode a whole layer exactly: Z3 checks
  the expression the spec code builds, so the proof is about the code, not a copy;
- Eq. 1 as the paper writes it (W_hat = W * delta + sigma on every parameter of the
  layer) does not: decoding with Eq. 3 leaves sigma * sum(x) / delta, and Z3 returns
  a concrete counterexample.
"""

import time

import z3

from hyperx.spec import obfuscation

from .invariants import TIMEOUT_MS
from .result import ProofResult

N_INPUTS, N_OUTPUTS = 3, 2


class Undecided(Exception):
    pass


class SymbolicReal:
    """A z3 real that the spec's arithmetic can run on; its comparisons are decided by
    the solver under `facts` (and raise Undecided when the facts do not decide them)."""

    def __init__(self, term: z3.ArithRef, facts: list):
        self.term = term
        self.facts = facts

    def _wrap(self, term):
        return SymbolicReal(term, self.facts)

    @staticmethod
    def _term(other):
        return other.term if isinstance(other, SymbolicReal) else z3.RealVal(other)

    def __add__(self, other):
        return self._wrap(self.term + self._term(other))

    def __radd__(self, other):
        return self._wrap(self._term(other) + self.term)

    def __sub__(self, other):
        return self._wrap(self.term - self._term(other))

    def __rsub__(self, other):
        return self._wrap(self._term(other) - self.term)

    def __mul__(self, other):
        return self._wrap(self.term * self._term(other))

    def __rmul__(self, other):
        return self._wrap(self._term(other) * self.term)

    def __truediv__(self, other):
        return self._wrap(self.term / self._term(other))

    def __neg__(self):
        return self._wrap(-self.term)

    def __eq__(self, other):
        return SymbolicCondition(self.term == self._term(other), self.facts)

    def __ne__(self, other):
        return SymbolicCondition(self.term != self._term(other), self.facts)

    __hash__ = None


class SymbolicCondition:
    def __init__(self, term: z3.BoolRef, facts: list):
        self.term = term
        self.facts = facts

    def __bool__(self) -> bool:
        for verdict, claim in ((True, self.term), (False, z3.Not(self.term))):
            solver = z3.Solver()
            solver.set("timeout", TIMEOUT_MS)
            solver.add(*self.facts, z3.Not(claim))
            if solver.check() == z3.unsat:
                return verdict
        raise Undecided(f"the facts do not decide {self.term}")


def _symbols(name: str, n: int, facts: list) -> list[SymbolicReal]:
    return [SymbolicReal(z3.Real(f"{name}{j}"), facts) for j in range(n)]


def _prove(claim: z3.BoolRef, facts: list) -> tuple[str, str]:
    solver = z3.Solver()
    solver.set("timeout", TIMEOUT_MS)
    solver.add(*facts, z3.Not(claim))
    verdict = solver.check()
    if verdict == z3.unsat:
        return "proved", ""
    if verdict == z3.sat:
        return "failed", f"counterexample: {solver.model()}"
    return "unknown", solver.reason_unknown()


def prove_decoding_exact_scalar() -> ProofResult:
    start = time.perf_counter()
    delta, sigma, z = z3.Reals("delta sigma z")
    status, detail = _prove(((delta * z + sigma) - sigma) / delta == z, [delta != 0])
    return ProofResult(
        "decoding_exact_every_nonzero_delta",
        status,
        time.perf_counter() - start,
        detail or "forall reals delta != 0, sigma, z: ((delta*z + sigma) - sigma)/delta = z",
    )


def _layer(facts: list):
    x = _symbols("x", N_INPUTS, facts)
    weight = [_symbols(f"w{i}_", N_OUTPUTS, facts) for i in range(N_INPUTS)]
    bias = _symbols("b", N_OUTPUTS, facts)
    delta = _symbols("delta", N_OUTPUTS, facts)
    sigma = _symbols("sigma", N_OUTPUTS, facts)
    facts.extend(d.term != 0 for d in delta)
    return x, weight, bias, delta, sigma


def prove_decoding_exact_spec_layer() -> ProofResult:
    """The spec's obfuscate -> features -> decode pipeline, on a symbolic layer."""
    start = time.perf_counter()
    facts: list = []
    x, weight, bias, delta, sigma = _layer(facts)
    try:
        weight_hat, bias_hat = obfuscation.compute_obfuscated_layer(weight, bias, delta, sigma)
        features_hat = obfuscation.compute_linear(x, weight_hat, bias_hat)
        decoded = obfuscation.decode_features(features_hat, delta, sigma)
        exact = obfuscation.compute_linear(x, weight, bias)
    except (Undecided, AssertionError) as error:
        return ProofResult(
            "decoding_exact_spec_layer", "failed", time.perf_counter() - start, str(error)
        )
    claim = z3.And(*(d.term == e.term for d, e in zip(decoded, exact, strict=True)))
    status, detail = _prove(claim, facts)
    return ProofResult(
        "decoding_exact_spec_layer",
        status,
        time.perf_counter() - start,
        detail
        or f"hyperx.spec.obfuscation on a symbolic {N_INPUTS}x{N_OUTPUTS} layer: "
        "decode(linear(x, obfuscate(W, b))) = linear(x, W, b) for every nonzero delta",
    )


def prove_eq1_as_written_not_decodable() -> ProofResult:
    """W_hat = W * delta + sigma and b_hat = b * delta + sigma, decoded by Eq. 3."""
    start = time.perf_counter()
    facts: list = []
    x, weight, bias, delta, sigma = _layer(facts)
    weight_hat = [[w * d + s for w, d, s in zip(row, delta, sigma, strict=True)] for row in weight]
    bias_hat = [b * d + s for b, d, s in zip(bias, delta, sigma, strict=True)]
    decoded = [
        (y - s) / d
        for y, s, d in zip(
            obfuscation.compute_linear(x, weight_hat, bias_hat), sigma, delta, strict=True
        )
    ]
    exact = obfuscation.compute_linear(x, weight, bias)
    residual_is = z3.And(
        *(
            dec.term - ex.term == s.term * sum(xi.term for xi in x) / d.term
            for dec, ex, s, d in zip(decoded, exact, sigma, delta, strict=True)
        )
    )
    residual_status, residual_detail = _prove(residual_is, facts)
    solver = z3.Solver()
    solver.set("timeout", TIMEOUT_MS)
    solver.add(*facts, decoded[0].term != exact[0].term)
    verdict = solver.check()
    seconds = time.perf_counter() - start
    name = "eq1_as_written_not_decodable"
    if verdict == z3.unsat:
        return ProofResult(name, "failed", seconds, "Eq. 1 as written decodes exactly (unexpected)")
    if verdict != z3.sat or residual_status != "proved":
        status = "unknown" if verdict != z3.sat else residual_status
        return ProofResult(name, status, seconds, residual_detail or solver.reason_unknown())
    model = solver.model()

    def value(term):
        return model.eval(term, model_completion=True)

    shown = ", ".join(f"x{i}={value(xi.term)}" for i, xi in enumerate(x))
    shown += f", W[:,0]={[str(value(row[0].term)) for row in weight]}, b0={value(bias[0].term)}"
    shown += f", delta0={value(delta[0].term)}, sigma0={value(sigma[0].term)}"
    shown += f": Eq. 3 decodes {value(decoded[0].term)}, the feature is {value(exact[0].term)}"
    return ProofResult(
        name,
        "proved",
        seconds,
        "decode - exact = sigma*sum(x)/delta (proved); Z3 counterexample: " + shown,
    )


def prove_all() -> list[ProofResult]:
    return [
        prove_decoding_exact_scalar(),
        prove_decoding_exact_spec_layer(),
        prove_eq1_as_written_not_decodable(),
    ]

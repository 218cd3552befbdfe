"""Z3 proofs of Prot_SC's safety invariants, tied to the executable spec.

May import `hyperx.spec` and z3; nothing from `hyperx.impl`.
"""

import time
from types import ModuleType

from .result import ProofResult

_MISSING = "hyperx.proofs needs z3-solver (it is not installed): pip install 'hyperx[core]'"


def run_proofs(
    contract_module: ModuleType | None = None, *, examples: int = 200
) -> list[ProofResult]:
    """Every invariant proof, the decoding proofs, and the differential check of the
    Z3 encoding against `contract_module` (default `hyperx.spec.contract`)."""
    try:
        import z3  # noqa: F401
    except ImportError as error:
        raise ImportError(_MISSING) from error
    from . import conformance, invariants, obfuscation

    results = invariants.prove_all() + obfuscation.prove_all()
    start = time.perf_counter()
    ok, detail, _ = conformance.check_conformance(contract_module, examples=examples)
    results.append(
        ProofResult(
            "conformance_with_spec",
            "proved" if ok else "failed",
            time.perf_counter() - start,
            detail,
        )
    )
    return results


__all__ = ["ProofResult", "run_proofs"]

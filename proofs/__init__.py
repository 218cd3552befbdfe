"""Z3 proofs of Prot_SC's safety invariants, tied to the executable spec.

May import `hyperx.spec` and z3; nothing from `hyperx.impl`.
"""

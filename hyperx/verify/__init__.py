"""Verification runners: proofs, refinement and mutation testing behind `hyperx verify`.

May import hyperx.spec, hyperx.proofs, hypothesis and z3; never hyperx.impl, except
that `economics` loads hyperx.impl.chain's EVM engines when asked to replay on the contract.
"""

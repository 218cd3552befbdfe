"""HyperX: a trust-free data marketplace for deep learning.

The root of the distribution; its layers live in top-level folders and import as
`hyperx.spec`, `hyperx.proofs`, `hyperx.impl` and `hyperx.vyper_contracts`.
Data flows one way: spec -> proofs/contract/clients, never back.
"""

__version__ = "0.1.0"

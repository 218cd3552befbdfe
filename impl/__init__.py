"""The real system: chain and datastore clients, the Vyper tooling, the JAX assessor.

May import `hyperx.spec` (never the reverse) and third-party libraries; each
subpackage's docstring says which. `errors` (standard library only) is how every
command of every layer reports a failure: one line, and an exit code by one rule.
"""

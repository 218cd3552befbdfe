"""Prot_COL and Prot_PRI (paper Figure 3) as event-driven clients, and `hyperx session|collector|provider`.

May import `hyperx.spec` and the other `hyperx.impl` packages (chain, datastore, crypto, quality), web3, typer and rich.
"""

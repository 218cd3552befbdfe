"""The privacy-preserving quality assessor (paper §3.1.1, §3.2, §5) and `hyperx-eval`.

May import `hyperx.spec`, jax, flax, optax, numpy, scikit-learn, matplotlib, typer and rich; never web3 or vyper.
"""

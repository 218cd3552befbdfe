"""The chain side of HyperX: compiling and deploying the Vyper market, a typed client, gas figures.

May import hyperx.spec, vyper, web3, eth-tester (py-evm) and titanoboa; never jax.
"""

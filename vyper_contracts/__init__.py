"""The trading contract Prot_SC in Vyper 0.4, shipped as package data.

Source only: compiled by `hyperx.impl.chain`; imports nothing.
"""

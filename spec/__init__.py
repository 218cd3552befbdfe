"""The executable specification: F_HyperX (Figure 9) and Prot_HyperX (Figure 3).

Pure Python over the abstract services F_BC and F_DS; may import only the standard
library and pycryptodome (keccak). Everything else in HyperX is checked against it.
"""

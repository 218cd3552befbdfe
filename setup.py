"""Maps the design card's top-level layer folders onto one `hyperx` package.

Each layer stays a top-level folder of the repository (spec/, impl/, proofs/,
vyper_contracts/) and installs as a subpackage of `hyperx`, so nothing named `spec`
or `impl` lands at the top of site-packages. Subpackages are found by walking each
layer for `__init__.py`, so a new folder needs no edit here. Editable installs and
wheels both honour this mapping.
"""

from pathlib import Path

from setuptools import setup

LAYERS = {
    "hyperx": "hyperx",
    "hyperx.spec": "spec",
    "hyperx.impl": "impl",
    "hyperx.proofs": "proofs",
    "hyperx.vyper_contracts": "vyper_contracts",
}


def find_layer_packages() -> list[str]:
    packages = []
    for package, folder in LAYERS.items():
        for init in sorted(Path(folder).rglob("__init__.py")):
            parts = init.parent.relative_to(folder).parts
            packages.append(".".join((package, *parts)))
    return packages


setup(packages=find_layer_packages(), package_dir=LAYERS)

"""The package list, computed: `lint/` and `convert/` live at the top of the repository but install
as `torchready.lint` and `torchready.convert` (package-dir below). `packages.find` in pyproject.toml
cannot rename, and a hand-kept list would silently drop a new subpackage. Everything else is in
pyproject.toml."""

from setuptools import find_packages, setup

MAPPED = {"torchready.lint": "lint", "torchready.convert": "convert"}

packages = ["torchready", *find_packages(include=["torchready.*"])]
for package, folder in MAPPED.items():
    packages += [package, *(f"{package}.{sub}" for sub in find_packages(folder))]

setup(packages=packages, package_dir=MAPPED)

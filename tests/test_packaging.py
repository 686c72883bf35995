"""pyproject.toml declares what the code imports, in ranges that admit the pinned, tested requirements files."""

import ast
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "protocols", "analysis", "benchmarks")
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [req for group in project["optional-dependencies"].values() for req in group]
    return [Requirement(text) for text in project["dependencies"] + extras]


def pinned():
    pins = {}
    for name in ("requirements.txt", "requirements-gpu.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.split("#")[0].strip())
            if match:
                pins[canonicalize_name(match[1])] = match[2]
    return pins


def imported() -> set[str]:
    """Top-level modules the project's code imports that are neither its own nor the standard library's."""
    names = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names - set(PACKAGES) - set(sys.stdlib_module_names)


def test_declared_ranges_admit_the_pinned_versions():
    pins = pinned()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is declared in pyproject.toml but pinned in no requirements file"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{requirement} excludes {pins[name]}"


def test_every_imported_distribution_is_declared():
    names = {canonicalize_name(requirement.name) for requirement in declared()}
    missing = {module for module in imported() if canonicalize_name(DISTRIBUTIONS.get(module, module)) not in names}
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"

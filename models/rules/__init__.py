"""Learning rules, one module each: a module of this package with a ``RULE`` attribute
(a :class:`models.rules.base.Rule`) is a rule, selectable by its name (``--rule``)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from models.rules.base import Rule


@cache
def registry() -> dict[str, Rule]:
    """Every rule by name, the paper's ``brp`` first."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        rule = getattr(importlib.import_module(f"{__name__}.{module.name}"), "RULE", None)
        if isinstance(rule, Rule):
            found[rule.name] = rule
    return {name: found[name] for name in sorted(found, key=lambda name: (name != "brp", name))}


def names() -> tuple[str, ...]:
    return tuple(registry())


def get(name: str) -> Rule:
    rules = registry()
    if name not in rules:
        raise ValueError(f"unknown rule {name!r}; expected one of {tuple(rules)}")
    return rules[name]

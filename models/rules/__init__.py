"""Learning rules, one module each: a module of this package with a ``RULE`` attribute
(a :class:`models.rules.base.Rule`) is a rule, selectable by its name (``--rule``)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from models.rules.base import Rule


@cache
def registry() -> dict[str, Rule]:
    """Every rule by name, in the order of their ``rank`` (the paper's ``brp`` first)."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        rule = getattr(importlib.import_module(f"{__name__}.{module.name}"), "RULE", None)
        if not isinstance(rule, Rule):
            continue
        if not rule.name or rule.name in found:
            raise RuntimeError(f"models.rules.{module.name}: rule name {rule.name!r} is empty or taken")
        found[rule.name] = rule
    return dict(sorted(found.items(), key=lambda item: (item[1].rank, item[0])))


def names() -> tuple[str, ...]:
    return tuple(registry())


def get(name: str) -> Rule:
    rules = registry()
    if name not in rules:
        raise ValueError(f"unknown rule {name!r}; expected one of {tuple(rules)}")
    return rules[name]

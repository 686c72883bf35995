"""Shared fixtures: Brian2 on the runtime device (numpy target) unless a test builds standalone."""

import pytest
from brian2 import prefs, set_device


@pytest.fixture(autouse=True)
def runtime_device():
    set_device("runtime")
    prefs.codegen.target = "numpy"
    yield
    set_device("runtime")


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory):
    """One compiled-program cache for the whole test session."""
    return tmp_path_factory.mktemp("build_cache")

"""Shared fixtures: Brian2 on the runtime device (numpy target) unless a test builds standalone."""

import os

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
    """One compiled-program cache for the whole test session, shared by pytest-xdist's workers.

    The workers' temporary folders lie side by side; the cache's locks let concurrent
    processes share it (a structure compiled by one worker is copied by the others).
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return tmp_path_factory.mktemp("build_cache")
    shared = tmp_path_factory.getbasetemp().parent / "build_cache"
    shared.mkdir(exist_ok=True)
    return shared

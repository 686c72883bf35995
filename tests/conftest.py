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

    Builds of one structure take turns and reuse each other's compiled files (file locks in
    :class:`models.devices.StandaloneBuild`), so parallel workers compile each program once.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process (-n 0)
        return tmp_path_factory.mktemp("build_cache")
    shared = tmp_path_factory.getbasetemp().parent / "build_cache"
    shared.mkdir(exist_ok=True)
    return shared

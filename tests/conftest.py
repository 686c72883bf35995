"""Shared fixtures: Brian2 on the runtime device (numpy target) unless a test builds standalone."""

import matplotlib
import pytest
from brian2 import prefs, set_device

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def runtime_device():
    set_device("runtime")
    prefs.codegen.target = "numpy"
    yield
    set_device("runtime")

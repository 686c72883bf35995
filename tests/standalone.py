"""Running a test's network as a compiled cpp_standalone program, and reading back every array it holds."""

import numpy as np
import pytest
from brian2.core.variables import ArrayVariable

from models import devices, propagation


def state_arrays(net) -> dict[str, np.ndarray]:
    """Every array variable owned by the network's objects (groups, synapses, monitors), as numpy arrays."""
    arrays = {}
    for obj in net.objects:
        for name, var in getattr(obj, "variables", {}).items():
            if isinstance(var, ArrayVariable) and var.owner is not None and var.owner.name == obj.name:
                arrays[f"{obj.name}.{name}"] = np.array(var.get_value())
    return arrays


def compiled_run(make_network, key: str, cache_dir, seed: int = 0, precision: str = "float64"):
    """Build ``make_network()`` (returns the network and its duration) as a compiled program and run it once.

    Returns the network (read its variables before the next build), its arrays (:func:`state_arrays`)
    and the propagation mode chosen for each pathway (:func:`models.propagation.chosen_modes`).
    """
    build = devices.StandaloneBuild(key, cache_dir=cache_dir)
    with build.activate(seed, precision):
        net, duration = make_network()
        net.run(duration)
        build.build()
        build.run({})
        arrays = state_arrays(net)
    return net, arrays, propagation.chosen_modes(build.directory / "results")


def assert_identical(first: dict, second: dict, what: str) -> None:
    """The same keys and bit-identical arrays (NaN equal to NaN)."""
    assert first.keys() == second.keys(), f"{what}: different arrays {sorted(first.keys() ^ second.keys())}"
    for key in first:
        a, b = np.asarray(first[key]), np.asarray(second[key])
        assert a.shape == b.shape, f"{what}: {key} has shape {a.shape} and {b.shape}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (
            f"{what}: {key} differs (largest difference {np.max(np.abs(a.astype(float) - b.astype(float)))})"
        )


# Where a reference test runs its network: Brian2's runtime (numpy), or compiled with either propagation.
TARGETS = ("runtime", "auto", "generic")


def simulate(make_network, target: str, cache_dir, key: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Run ``make_network(propagation)`` (returns the network and its duration) on ``target``; its arrays.

    ``target`` is one of :data:`TARGETS`; ``key`` names the compiled structure in the build cache; ``seed``
    seeds the compiled program's random numbers (on the runtime device, the caller seeds Brian2).
    """
    if target == "runtime":
        net, duration = make_network("generic")
        net.run(duration)
        return state_arrays(net)
    _, arrays, _ = compiled_run(lambda: make_network(target), f"{key}|{target}", cache_dir, seed)
    return arrays


def compiled_cases(*cases) -> list:
    """pytest parameters ``(*case, target)``: each case compiled with either propagation, marked ``standalone``."""
    return [pytest.param(*case, target, marks=pytest.mark.standalone) for case in cases for target in TARGETS[1:]]

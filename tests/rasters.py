"""Input spike rasters per sample from a SpikeMonitor's arrays, for the numpy references of the learning rules."""

import numpy as np


def sample_rasters(arrays: dict, monitor: str, n_samples: int, T: int, n_inputs: int) -> list[np.ndarray]:
    """(T, n_inputs) 0/1 raster of each of the first ``n_samples`` samples (dt = 1 ms, T steps each).

    ``arrays`` holds the SpikeMonitor ``monitor``'s ``t`` (seconds) and ``i`` (:func:`tests.standalone.state_arrays`).
    """
    steps = np.round(arrays[f"{monitor}.t"] / 1e-3).astype(int)
    neurons = arrays[f"{monitor}.i"]
    rasters = []
    for k in range(n_samples):
        raster = np.zeros((T, n_inputs))
        sel = (steps >= k * T) & (steps < (k + 1) * T)
        raster[steps[sel] - k * T, neurons[sel]] = 1
        rasters.append(raster)
    return rasters

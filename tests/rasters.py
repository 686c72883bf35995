"""Input spike rasters per sample from a SpikeMonitor, for the numpy references of the learning rules."""

import numpy as np
from brian2 import ms


def sample_rasters(spikes, n_samples: int, T: int, n_inputs: int) -> list[np.ndarray]:
    """(T, n_inputs) 0/1 raster of each of the first ``n_samples`` samples (dt = 1 ms, T steps each)."""
    rasters = []
    for k in range(n_samples):
        raster = np.zeros((T, n_inputs))
        sel = (spikes.t >= k * T * ms) & (spikes.t < (k + 1) * T * ms)
        raster[np.round(spikes.t[sel] / ms).astype(int) - k * T, spikes.i[sel]] = 1
        rasters.append(raster)
    return rasters

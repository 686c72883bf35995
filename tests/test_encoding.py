"""Eq. 3 encoder: Bernoulli spikes with probability min(1, I / alpha), read through the sample order."""

import numpy as np
import pytest
from brian2 import Network, SpikeMonitor, TimedArray, ms

from models.encoding import bernoulli_input, frame_input, pack_frames

T = 400  # steps per sample: enough spikes to estimate each probability


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_spike_probability_follows_eq3_and_sample_order(alpha):
    data = np.array([[0.0, 0.1, 0.5, 0.9], [1.0, 0.3, 0.0, 0.6]])
    order = [1, 0, 1]
    sample = T * ms
    namespace = {
        "data": TimedArray(data, dt=sample),
        "order": TimedArray(np.array(order, dtype=float), dt=sample),
        "sample_duration": sample,
        "alpha": alpha,
    }
    group = bernoulli_input(4, namespace, dt=1 * ms)
    spikes = SpikeMonitor(group)
    Network(group, spikes).run(len(order) * sample)
    for k, row in enumerate(order):
        in_sample = (spikes.t >= k * sample) & (spikes.t < (k + 1) * sample)
        rate = np.bincount(spikes.i[in_sample], minlength=4) / T
        expected = np.minimum(1.0, data[row] / alpha)
        # binomial standard error at most 0.025 for T = 400; 4 sigma
        np.testing.assert_allclose(rate, expected, atol=0.1, err_msg=f"sample {k} (row {row})")
        assert rate[data[row] == 0].sum() == 0, "zero intensity must never spike"


def test_event_frames_are_packed_and_replayed_exactly_in_sample_order():
    rng = np.random.default_rng(4)
    steps, n_inputs = 5, 100  # three packed columns, the last one partly used
    frames = (rng.random((3, steps, n_inputs)) < 0.3).astype(np.uint8)
    packed = pack_frames(frames)
    assert packed.shape == (3 * steps, 3)
    order = [2, 0, 1]
    namespace = {
        "data": TimedArray(packed, dt=1 * ms),
        "order": TimedArray(np.array(order, dtype=float), dt=steps * ms),
        "T_steps": steps,
        "step_dt": 1 * ms,
    }
    group = frame_input(n_inputs, namespace, dt=1 * ms)
    spikes = SpikeMonitor(group)
    Network(group, spikes).run(len(order) * steps * ms)
    raster = np.zeros((len(order) * steps, n_inputs), dtype=np.uint8)
    raster[np.round(spikes.t / ms).astype(int), spikes.i] = 1
    np.testing.assert_array_equal(raster, frames[order].reshape(-1, n_inputs))

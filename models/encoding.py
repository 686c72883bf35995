"""Input layer: the Bernoulli rate encoder of eq. 3 (Zhang et al., 2021), and spike frames of event data.

Rate input: at every time step input i spikes if ``I_raw_i > alpha * U(0, 1)``, i.e.
with probability ``min(1, I_raw_i / alpha)``.  The intensities of the sample that
occupies the current slot are read from the 2-D TimedArray ``data`` through the
1-D TimedArray ``order`` (the run's sample order): ``data(order(t) * T + T/2, i)``.

Event input (DVS recordings binned into T frames, spikes fed directly, no
encoder): input i spikes at step k of a sample if the sample's frame k has a
spike at i.  Frames are binary, and a float64 TimedArray (the only kind Brian2
compiles) would spend 8 bytes on each bit, so they are packed: 48 spikes per
float64 value (integers below 2**53 are exact), row ``sample * T + k``, column
``i // 48``, bit ``i % 48``; the threshold tests the bit.  A DVS data set of
1,342 samples x 100 frames x 2 x 32 x 32 inputs then takes 46 MB instead of 2.2 GB.
"""

from __future__ import annotations

import numpy as np
from brian2 import Equations, NeuronGroup

INPUT_EQUATIONS = """
cnt : 1  # spikes of this input in the current sample
spikes_train : 1  # spikes over the run's training samples
spikes_test : 1  # spikes over the run's test samples
"""

# eq. 3; the half-slot offset keeps the lookup away from slot edges.
# The compiled program seeds its random numbers with run_seed at the start of every run (set per run).
RATE_EQUATIONS = "run_seed : integer (shared, constant)  # seed of this run's U(0, 1) draws"
BERNOULLI_THRESHOLD = "data((order(t) + 0.5) * sample_duration, i) > alpha * rand()"

BITS = 48  # spikes packed into one float64 value
FRAME_EQUATIONS = """
column : integer (constant)  # i // BITS: the packed value that holds this input
bit_weight : 1 (constant)  # 2 ** (i % BITS)
"""
# row of the current step: the sample's first frame + the step within the sample; bit k of x is set
# when x mod 2^(k+1) >= 2^k (exact on doubles; Brian2's floor() would go through int32)
FRAME_THRESHOLD = (
    "data((order(t) * T_steps + (t_in_timesteps % T_steps) + 0.5) * step_dt, column) % (2 * bit_weight) >= bit_weight"
)


def bernoulli_input(n_inputs: int, namespace: dict, dt, events=None, model="", on_spike="") -> NeuronGroup:
    """The input group of eq. 3, named ``input``; ``namespace`` holds the TimedArrays and alpha.

    Its ``run_seed`` seeds the run's random numbers in compiled programs (:func:`models.training.run_seed`).

    ``events`` are further custom events (name -> condition) of the group; ``model`` further
    equations and ``on_spike`` further code at each spike (e.g. an STDP trace).
    """
    return NeuronGroup(
        n_inputs,
        Equations(INPUT_EQUATIONS) + Equations(RATE_EQUATIONS) + Equations(model),
        threshold=BERNOULLI_THRESHOLD,
        reset="\n".join(filter(None, ("cnt += 1", on_spike))),
        events=events,
        namespace=namespace,
        dt=dt,
        name="input",
    )


def pack_frames(frames: np.ndarray) -> np.ndarray:
    """Binary frames (samples, T, inputs) -> float64 (samples * T, ceil(inputs / BITS)) of packed bits."""
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"frames must have shape (samples, T, inputs), got {frames.shape}")
    n, steps, n_inputs = frames.shape
    n_columns = -(-n_inputs // BITS)
    bits = np.zeros((n * steps, n_columns * BITS), dtype=np.float64)
    bits[:, :n_inputs] = frames.reshape(n * steps, n_inputs) > 0
    weights = 2.0 ** np.arange(BITS)
    return bits.reshape(n * steps, n_columns, BITS) @ weights


def frame_input(n_inputs: int, namespace: dict, dt, events=None, model="", on_spike="") -> NeuronGroup:
    """The input group of event data, named ``input``: spikes read from the packed frames ``data``.

    ``namespace`` holds the TimedArrays ``data`` (see :func:`pack_frames`, dt = the time step)
    and ``order``, ``T_steps`` and ``step_dt`` (the time step as a quantity); ``events``,
    ``model`` and ``on_spike`` as for :func:`bernoulli_input`.
    """
    group = NeuronGroup(
        n_inputs,
        Equations(INPUT_EQUATIONS) + Equations(FRAME_EQUATIONS) + Equations(model),
        threshold=FRAME_THRESHOLD,
        reset="\n".join(filter(None, ("cnt += 1", on_spike))),
        events=events,
        namespace=namespace,
        dt=dt,
        name="input",
    )
    index = np.arange(n_inputs)
    group.column = index // BITS
    group.bit_weight = 2.0 ** (index % BITS)
    return group

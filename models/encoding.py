"""Input layer: the Bernoulli rate encoder of eq. 3 (Zhang et al., 2021).

At every time step input i spikes if ``I_raw_i > alpha * U(0, 1)``, i.e. with
probability ``min(1, I_raw_i / alpha)``.  The intensities of the sample that
occupies the current slot are read from the 2-D TimedArray ``data`` through the
1-D TimedArray ``order`` (the run's sample order): ``data(order(t) * T + T/2, i)``.
"""

from __future__ import annotations

from brian2 import Equations, NeuronGroup

INPUT_EQUATIONS = """
cnt : 1  # spikes of this input in the current sample
spikes_train : 1  # spikes over the run's training samples
spikes_test : 1  # spikes over the run's test samples
"""

# eq. 3; the half-slot offset keeps the lookup away from slot edges.
BERNOULLI_THRESHOLD = "data((order(t) + 0.5) * sample_duration, i) > alpha * rand()"


def bernoulli_input(n_inputs: int, namespace: dict, dt, events=None) -> NeuronGroup:
    """The input group of eq. 3, named ``input``; ``namespace`` holds the TimedArrays and alpha.

    ``events`` are further custom events (name -> condition) of the group.
    """
    return NeuronGroup(
        n_inputs,
        Equations(INPUT_EQUATIONS),
        threshold=BERNOULLI_THRESHOLD,
        reset="cnt += 1",
        events=events,
        namespace=namespace,
        dt=dt,
        name="input",
    )

"""Firing statistics recorded inside the network: per-sample activity of every stage, membrane traces."""

import numpy as np
from brian2 import SpikeMonitor, StateMonitor, ms, mV

from models import devices, layers
from models.network import NetworkSpec, build_network
from models.topology import Conv
from models.training import Trainer, feedback_matrices, initial_state

T = 5


def test_activity_and_traces_match_monitors():
    rng = np.random.default_rng(0)
    data = rng.uniform(0.2, 1.0, (4, 36))
    labels = np.array([0, 1, 2, 1])
    spec = NetworkSpec(
        n_inputs=36,
        sizes=(6, 3),
        n_rows=4,
        n_slots=4,
        T=T,
        batch_size=2,
        input_shape=(1, 6, 6),
        convs=(Conv(2, 3, 1, 1),),
    )
    state = initial_state(spec, rng)
    state["conv1_kernel.w"] = rng.uniform(0.0, 0.4, state["conv1_kernel.w"].size)
    state["pool1_hidden1.w"] = rng.uniform(0.0, 0.3, state["pool1_hidden1.w"].size)
    trainer = Trainer(spec, data, labels, feedback_matrices(spec, rng), device="runtime")
    monitors = {}

    def build_with_monitors(inputs, state, seed, progress):  # the runtime build, with independent monitors added
        with devices.runtime(0, spec.precision):
            net = build_network(spec, data, inputs, state, trainer.feedback)
            for stage in spec.stages:
                if stage.kind != "pool":
                    monitors[stage.name] = SpikeMonitor(net[stage.name], name=f"check_{stage.name}")
                    net.add(monitors[stage.name])
            monitors["v"] = StateMonitor(
                net["hidden1"],
                "v",
                record=True,
                when="groups",
                order=layers.STEP * 3 + layers.TRACE + 1,
                name="check_v",
            )
            net.add(monitors["v"])
            net.run(spec.duration)
        return net

    trainer._runtime_run = build_with_monitors
    result, _ = trainer.run(state, np.arange(2), np.arange(2, 4), lr=1e-3)

    names = [stage.name for stage in spec.stages]
    for stage in spec.stages:
        if stage.kind == "pool":
            continue
        spikes = monitors[stage.name]
        slot = np.asarray(spikes.t / ms).astype(int) // T
        expected = np.bincount(slot, minlength=5)[:4]
        active = [len(np.unique(np.asarray(spikes.i)[slot == k])) for k in range(4)]
        np.testing.assert_array_equal(result.activity["spikes"][names.index(stage.name)], expected, stage.name)
        np.testing.assert_array_equal(result.activity["active"][names.index(stage.name)], active, stage.name)
    assert result.activity["spikes"][names.index("conv1")].sum() > 0
    # pooled events: 2x2 windows of the 2x6x6 conv map with at least one spike, per step
    conv = monitors["conv1"]
    steps = np.asarray(conv.t / ms).astype(int)
    unit = np.asarray(conv.i)
    channel, y, x = unit // 36, (unit % 36) // 6, unit % 6
    windows = set(zip(steps.tolist(), (channel * 9 + (y // 2) * 3 + x // 2).tolist()))
    per_sample = np.bincount([s // T for s, _ in windows], minlength=5)[:4]
    np.testing.assert_array_equal(result.activity["spikes"][names.index("pool1")], per_sample)

    # traces: hidden1's traced neurons in the first two test samples (run slots 2 and 3)
    layer, sample, step, neuron, v, spiked = next(t for t in result.traces if t[0] == "hidden1")
    assert set(sample.tolist()) == {2, 3} and set(neuron.tolist()) == set(
        layers.traced_neurons(spec.stages[3]).tolist()
    )
    absolute = sample * T + step
    np.testing.assert_allclose(v, np.asarray(monitors["v"].v / mV)[neuron, absolute], atol=1e-12)
    fired = set(zip(np.asarray(monitors["hidden1"].t / ms).astype(int).tolist(), monitors["hidden1"].i[:].tolist()))
    np.testing.assert_array_equal(spiked, [(a, n) in fired for a, n in zip(absolute.tolist(), neuron.tolist())])
    assert spiked.sum() > 0

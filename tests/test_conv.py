"""Spiking convolution and pooling trained by BRP: one minibatch in Brian2 against a numpy reference.

The reference computes the convolution with ``scipy.signal.correlate`` (independent of
the synapse construction in :mod:`models.layers`), the authors' recurrence per step
(eq. 2), 2x2 pooling of spikes (or eq. 2 pooling units), a readout layer, and eqs. 4-10 with one SGD step; with
``--homeostasis``, the homeostatic term in the conv layer's channel biases alone.
"""

from dataclasses import replace

import numpy as np
import pytest
from brian2 import Hz, SpikeMonitor
from scipy.signal import correlate

from models.layers import LIF_POOL_GAIN
from models.network import NetworkSpec, build_network
from models.topology import Conv
from models.training import feedback_matrices, initial_state, plan_run
from tests.rasters import sample_rasters
from tests.standalone import compiled_cases, simulate

T = 6
N_CLASSES = 3


def conv_forward(x, kernel, conv):
    """Cross-correlation of (C, H, W) input with (O, C, kh, kw) kernel, zero padding and stride."""
    pad_h = conv.padding if conv.dims == 2 else 0
    stride_h = conv.stride if conv.dims == 2 else 1
    padded = np.pad(x, ((0, 0), (pad_h, pad_h), (conv.padding, conv.padding)))
    full = np.stack([correlate(padded, kernel[o], mode="valid")[0] for o in range(len(kernel))])
    return full[:, ::stride_h, :: conv.stride]


def pool(spikes, window, kind):
    c, h, w = spikes.shape
    wh, ww = window
    blocks = spikes[:, : h // wh * wh, : w // ww * ww].reshape(c, h // wh, wh, w // ww, ww)
    return blocks.mean(axis=(2, 4)) if kind == "avg" else blocks.max(axis=(2, 4))


def reference_update(rasters, labels, state, feedback, spec, lr):
    """Numpy reference of one SGD minibatch; returns the expected learned arrays."""
    conv = spec.convs[0]
    stages = spec.stages
    in_shape, conv_shape = stages[0].shape, stages[1].shape
    window = (2, 2) if conv.dims == 2 else (1, 2)
    kernel = state["conv1_kernel.w"].reshape(conv.channels, in_shape[0], -1, conv.kernel)
    bias_c = state["conv1_channel.bias"]
    W = state["pool1_output.w"].reshape(stages[2].size, N_CLASSES)
    bias_o = state["output.bias"]
    grads = {key: np.zeros_like(state[key]) for key in ("conv1_kernel.w", "conv1_channel.bias", "pool1_output.w")}
    grads["output.bias"] = np.zeros(N_CLASSES)
    for raster, label in zip(rasters, labels):
        mem_c, spk_c, gate_c, cnt_c = (np.zeros(conv_shape) for _ in range(4))
        mem_o, spk_o, gate_o, cnt_o = (np.zeros(N_CLASSES) for _ in range(4))
        cnt_in, cnt_pool = np.zeros(in_shape), np.zeros(stages[2].shape)
        mem_p, spk_p = np.zeros(stages[2].shape), np.zeros(stages[2].shape)
        for t in range(T):
            x = raster[t].reshape(in_shape)
            cnt_in += x
            mem_c = mem_c * 0.2 * (1 - spk_c) + conv_forward(x, kernel, conv) + bias_c[:, None, None]
            gate_c += np.abs(mem_c - 0.5) < 0.5
            spk_c = (mem_c > 0.5).astype(float)
            cnt_c += spk_c
            if spec.pooling == "lif":  # eq. 2 units driven by 2 / 4 of a spike from each window neuron
                mem_p = mem_p * 0.2 * (1 - spk_p) + LIF_POOL_GAIN * pool(spk_c, window, "avg")
                spk_p = (mem_p > 0.5).astype(float)
                pooled = spk_p
            else:
                pooled = pool(spk_c, window, spec.pooling)
            cnt_pool += pooled
            mem_o = mem_o * 0.2 * (1 - spk_o) + pooled.ravel() @ W + bias_o
            gate_o += np.abs(mem_o - 0.5) < 0.5
            spk_o = (mem_o > 0.5).astype(float)
            cnt_o += spk_o
        onehot = np.eye(N_CLASSES)[label]
        fb = onehot @ feedback["conv1"]  # B^1 TP_BRP (eq. 8), label signal
        err_c = fb if spec.form == "code" else cnt_c.ravel() / T - fb
        delta_c = (err_c * gate_c.ravel() / T).reshape(conv_shape)
        homeostatic = spec.homeostasis * (cnt_c / T - float(spec.target_rate * spec.dt))  # bias alone
        delta_o = (cnt_o / T - onehot) * gate_o / T
        rates_in = cnt_in / T
        # kernel gradient: correlation of the input rates with the conv deltas, summed over positions
        pad_h = conv.padding if conv.dims == 2 else 0
        padded = np.pad(rates_in, ((0, 0), (pad_h, pad_h), (conv.padding, conv.padding)))
        g_kernel = np.zeros_like(kernel)
        stride_h = conv.stride if conv.dims == 2 else 1
        for o in range(kernel.shape[0]):
            for ky in range(kernel.shape[2]):
                for kx in range(kernel.shape[3]):
                    patch = padded[
                        :,
                        ky : ky + stride_h * conv_shape[1] : stride_h,
                        kx : kx + conv.stride * conv_shape[2] : conv.stride,
                    ]
                    g_kernel[o, :, ky, kx] = np.sum(patch * delta_c[o], axis=(1, 2))
        grads["conv1_kernel.w"] += g_kernel.ravel()
        grads["conv1_channel.bias"] += (delta_c + homeostatic).sum(axis=(1, 2))
        grads["pool1_output.w"] += np.outer(cnt_pool.ravel() / T, delta_o).ravel()
        grads["output.bias"] += delta_o
    return {key: state[key] - lr * g / len(labels) for key, g in grads.items()}


CASES = {
    "2d-avg": ((1, 6, 6), Conv(2, 3, 1, 1), "avg", "code"),
    "2d-stride-max": ((2, 7, 5), Conv(3, 3, 2, 1), "max", "paper"),
    "1d-avg": ((2, 9), Conv(3, 3, 1, 1, dims=1), "avg", "code"),
    "2d-lif": ((1, 6, 6), Conv(2, 3, 1, 1), "lif", "paper"),
    "2d-avg-homeostasis": ((1, 6, 6), Conv(2, 3, 1, 1), "avg", "code"),
}
HOMEOSTASIS = {"2d-avg-homeostasis": 0.5}  # --homeostasis of a case, towards 100 Hz
TARGETS = [(name, "runtime") for name in CASES] + compiled_cases(("2d-stride-max",), ("2d-lif",))


@pytest.mark.parametrize("case, target", TARGETS)
def test_conv_minibatch_matches_numpy_reference(case, target, build_cache):
    """On the runtime device, and compiled (queue-free and Brian2's propagation) for two cases."""
    homeostasis = HOMEOSTASIS.get(case, 0.0)
    input_shape, conv, pooling, form = CASES[case]
    rng = np.random.default_rng(3)
    n_in = int(np.prod(input_shape))
    data = rng.uniform(0.2, 1.0, (3, n_in))
    labels = np.array([1, 2, 0])
    spec = NetworkSpec(
        n_inputs=n_in,
        sizes=(N_CLASSES,),
        n_rows=3,
        n_slots=3,
        T=T,
        form=form,
        optimizer="sgd",
        batch_size=2,
        input_shape=input_shape,
        convs=(conv,),
        pooling=pooling,
        homeostasis=homeostasis,
        target_rate=100 * Hz,
    )
    feedback = feedback_matrices(spec, rng)
    state = initial_state(spec, rng)
    state["conv1_kernel.w"] = rng.uniform(-0.1, 0.5, state["conv1_kernel.w"].size)  # strong enough to spike
    state["pool1_output.w"] = rng.uniform(-0.02, 0.1, state["pool1_output.w"].size)
    lr = 0.1
    inputs, _ = plan_run(spec, np.arange(2), np.array([2]), labels, lr, 0)

    def make_network(propagation):
        net = build_network(replace(spec, propagation=propagation), data, inputs, state, feedback)
        net.add(SpikeMonitor(net["input"], name="input_spikes"), SpikeMonitor(net["conv1"], name="conv_spikes"))
        return net, spec.duration

    arrays = simulate(make_network, target, build_cache, f"{spec.key()}|conv reference")
    rasters = sample_rasters(arrays, "input_spikes", 2, T, n_in)
    assert np.sum(arrays["conv_spikes.t"] < 2 * T * 1e-3) > 0, "the conv layer should spike in the training samples"
    expected = reference_update(rasters, labels[:2], state, feedback, spec, lr)
    for key, value in expected.items():
        got = arrays[key]
        np.testing.assert_allclose(got, value, rtol=0, atol=1e-9, err_msg=f"{key} after one minibatch")
        assert np.max(np.abs(got - state[key])) > 1e-4, f"{key} did not change"
    # weight sharing: every synapse and neuron holds its kernel element / channel bias
    kernel = arrays["conv1_kernel.w"]
    np.testing.assert_array_equal(arrays["input_conv1.w"], kernel[arrays["input_conv1.kernel_index"]])
    channels = np.repeat(np.arange(conv.channels), spec.stages[1].size // conv.channels)
    np.testing.assert_array_equal(arrays["conv1.bias"], arrays["conv1_channel.bias"][channels])

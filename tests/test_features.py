"""The label-free STDP feature layer (``--winners``, :mod:`models.rules.features`) against a numpy reference."""

from dataclasses import replace

import numpy as np
import pytest
from brian2 import SpikeMonitor, ms, mV
from brian2 import seed as brian_seed

from models.network import NetworkSpec, build_network
from models.neurons import LIFParameters
from models.rules import features, stdp
from models.training import feedback_matrices, initial_state, plan_run
from tests.rasters import sample_rasters
from tests.standalone import compiled_cases, simulate

T, N_IN, SIZES, WINNERS = 6, 6, (5, 3), 2
DECAY = float(np.exp(-1 * ms / stdp.TAU_TRACE))
V_TH = 0.5  # eq. 2's threshold (mV); the threshold gap v_th - v_reset is 0.5 mV too


def reference(rasters, learning, W, theta):
    """Eq. 2's recurrence with the k-winner-take-all threshold, the homeostatic threshold and the instar rule,
    step by step; returns the hidden spikes per sample, the weights and the thresholds after the samples."""
    W, theta = W.copy(), theta.copy()
    n = W.shape[1]
    spikes = []
    for raster, learn in zip(rasters, learning):
        v, spk, trace = np.zeros(n), np.zeros(n), np.zeros(N_IN)
        out, crossed = np.zeros((T, n)), np.zeros(T)
        for t in range(T):
            trace = trace * DECAY + raster[t]
            v = v * 0.2 * (1 - spk) + raster[t] @ W
            theta -= features.THETA_STEP * WINNERS / n * learn
            margin = v - theta * V_TH
            rank = np.array([np.sum(np.delete(margin, i) > margin[i]) for i in range(n)])
            crossed[t] = np.sum(v > V_TH + theta * V_TH)
            spk = ((v > V_TH + theta * V_TH) & (rank < WINNERS)).astype(float)
            theta += features.THETA_STEP * spk * learn
            norm = np.linalg.norm(trace)
            W += features.FEATURE_RATE * learn * spk * (trace[:, None] / (norm if norm > 0 else 1.0) - W)
            out[t] = spk
        spikes.append((out, crossed))
    return spikes, W, theta


@pytest.mark.parametrize("seed, target", [(0, "runtime"), (1, "runtime")] + compiled_cases((2,)))
def test_feature_layer_matches_numpy_reference(seed, target, build_cache):
    """Two training samples, then a test sample: spikes, weights and thresholds at 1e-9. The case must let more
    neurons cross the threshold than may spike (so the winner-take-all acts) and must change the weights."""
    rng = np.random.default_rng(seed)
    brian_seed(seed)
    data = rng.uniform(0.3, 1.0, (3, N_IN))
    labels = np.array([1, 2, 0])
    spec = NetworkSpec(
        n_inputs=N_IN, sizes=SIZES, n_rows=3, n_slots=3, T=T, optimizer="sgd", batch_size=1, rule="rstdp",
        winners=WINNERS,
    )  # fmt: skip
    feedback = feedback_matrices(spec, rng)
    state = initial_state(spec, rng)
    state["hidden1.theta_hom"] = rng.uniform(-0.5, 0.5, SIZES[0])  # thresholds that differ
    inputs, _ = plan_run(spec, np.arange(2), np.array([2]), labels, 0.05, 0)

    def make_network(propagation):
        net = build_network(replace(spec, propagation=propagation), data, inputs, state, feedback)
        net.add(SpikeMonitor(net["input"], name="input_spikes"), SpikeMonitor(net["hidden1"], name="hidden_spikes"))
        return net, spec.duration

    arrays = simulate(make_network, target, build_cache, f"{spec.key()}|features reference", seed)
    rasters = sample_rasters(arrays, "input_spikes", 3, T, N_IN)
    hidden = sample_rasters(arrays, "hidden_spikes", 3, T, SIZES[0])
    W0 = state["input_hidden1.w"].reshape(N_IN, SIZES[0])
    expected, W, theta = reference(rasters, [1, 1, 0], W0, state["hidden1.theta_hom"])
    for k, (spikes, _) in enumerate(expected):
        np.testing.assert_array_equal(hidden[k], spikes, err_msg=f"hidden spikes of sample {k}")
    assert max(crossed.max() for _, crossed in expected) > WINNERS, "the winner-take-all should act in this case"
    assert all(spikes.sum(axis=1).max() <= WINNERS for spikes, _ in expected)
    np.testing.assert_allclose(arrays["input_hidden1.w"], W.ravel(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(arrays["hidden1.theta_hom"], theta, rtol=0, atol=1e-9)
    assert np.max(np.abs(W - W0)) > 1e-6, "the training samples should change the feature weights"
    # the test sample learns nothing: the reference without it ends where the one with it does
    _, W_train, theta_train = reference(rasters[:2], [1, 1], W0, state["hidden1.theta_hom"])
    np.testing.assert_array_equal(W_train, W)
    np.testing.assert_array_equal(theta_train, theta)


def test_winners_need_a_label_free_layer():
    with pytest.raises(ValueError, match="--winners needs rstdp"):
        NetworkSpec(n_inputs=4, sizes=(5, 3), n_rows=1, n_slots=1, rule="brp", winners=2)
    with pytest.raises(ValueError, match="below the hidden layer size 5"):
        NetworkSpec(n_inputs=4, sizes=(5, 3), n_rows=1, n_slots=1, rule="rstdp", winners=5)
    adapting = LIFParameters(adaptation=0.5 * mV)
    with pytest.raises(ValueError, match="winners and an adaptive threshold"):
        NetworkSpec(n_inputs=4, sizes=(5, 3), n_rows=1, n_slots=1, rule="rstdp", winners=2, neuron=adapting)

"""STDP-based rules (dopamine-modulated STDP, BRP-STDP): one minibatch in Brian2 against a numpy reference."""

import re
from dataclasses import replace

import numpy as np
import pytest
from brian2 import SpikeMonitor, StateMonitor, ms, mV
from brian2 import seed as brian_seed

from models.layers import STEP, TRACE
from models.network import NetworkSpec, build_network
from models.neurons import COBAParameters
from models.rules import rstdp, stdp
from models.training import decisions, feedback_matrices, initial_state, plan_run
from tests.rasters import sample_rasters
from tests.standalone import compiled_cases, simulate

T = 6
N_IN, SIZES = 5, (4, 3)
DECAY = float(np.exp(-1 * ms / stdp.TAU_TRACE))


def forward(raster, W, b, inhibition=0.0, potentials=None):
    """Authors' recurrence per step; spikes (T, n) per layer (n from the weights), pseudo-gradient sums and
    the output's summed potential. ``inhibition``: each output spike lowers the other outputs at the next step;
    ``potentials``, a list, receives each layer's potentials (T, n) as the threshold sees them."""
    spikes = [raster]
    gates = []
    s_in = raster
    for k in range(2):
        n = W[k].shape[1]
        mem, spk = np.zeros(n), np.zeros(n)
        out, gate, vsum = np.zeros((T, n)), np.zeros(n), np.zeros(n)
        seen = np.zeros((T, n))
        lateral = inhibition if k == 1 else 0.0
        for t in range(T):
            mem = mem * 0.2 * (1 - spk) + s_in[t] @ W[k] + b[k] - lateral * (spk.sum() - spk)
            gate += np.abs(mem - 0.5) < 0.5
            vsum += mem
            seen[t] = mem
            spk = (mem > 0.5).astype(float)
            out[t] = spk
        spikes.append(out)
        gates.append(gate)
        if potentials is not None:
            potentials.append(seen)
        s_in = out
    return spikes, gates, vsum


def eligibility(pre, post, window=None):
    """c_ij over a sample: depression at pre spikes by the post trace of the step before, potentiation at
    post spikes by the pre trace of this step (traces +1 per spike, decay exp(-dt / tau) per step);
    ``window`` (T, n_post), 1 where a post spike may potentiate (BRP-STDP's eq. 10 window), else all."""
    window = np.ones_like(post) if window is None else window
    c = np.zeros((pre.shape[1], post.shape[1]))
    x_pre, x_post = np.zeros(pre.shape[1]), np.zeros(post.shape[1])
    for t in range(T):
        x_pre = x_pre * DECAY + pre[t]
        c -= stdp.A_MINUS * np.outer(pre[t], x_post)  # post trace of the previous step
        x_post = x_post * DECAY + post[t]
        c += stdp.A_PLUS * np.outer(x_pre, post[t] * window[t])
    return c


def layer_weights(state):
    """The two weight matrices (pre x post); rstdp has several output neurons per class."""
    return [state["input_hidden1.w"].reshape(N_IN, SIZES[0]), state["hidden1_output.w"].reshape(SIZES[0], -1)]


def reference_update(rasters, labels, state, feedback, rule, lr, punishment=1.0, orthogonal=False):
    W = layer_weights(state)
    b = [state["hidden1.bias"], state["output.bias"]]
    grads = [np.zeros_like(W[0]), np.zeros_like(W[1]), np.zeros_like(b[0]), np.zeros_like(b[1])]
    hit_rate = 0.0
    hidden_spikes = np.zeros(SIZES[0])  # m: the hidden spike counts over the training samples so far
    inhibition = rstdp.WTA_INHIBITION if rule == "rstdp" else 0.0
    for raster, label in zip(rasters, labels):
        potentials = []
        spikes, gates, vsum = forward(raster, W, b, inhibition, potentials)
        counts = [s.sum(axis=0) for s in spikes]
        hidden_spikes += counts[1]
        # BRP-STDP: a hidden spike potentiates only from inside eq. 10's window, v < v_th + a = 1 (mV)
        window = (potentials[0] < 1.0).astype(float) if rule == "brp-stdp" else None
        c = [eligibility(spikes[0], spikes[1], window), eligibility(spikes[1], spikes[2])]
        y = counts[2] / T
        onehot = np.eye(SIZES[1])[label]
        if rule == "brp-stdp":
            err = onehot @ feedback["hidden1"]  # B TP, label signal, code form
            grads[0] += err * c[0] / T
            grads[2] += err * counts[1] / T
            delta_out = (y - onehot) * gates[1] / T  # the readout keeps BRP's delta rule
            grads[1] += np.outer(counts[1] / T, delta_out)
            grads[3] += delta_out
        else:  # the readout learns from the decision; the hidden layer keeps its random weights
            rivals = [(y > y[k]) | ((y == y[k]) & (vsum >= vsum[k])) for k in range(len(y))]
            beaten = np.array([np.sum(np.delete(rival, k)) for k, rival in enumerate(rivals)])
            winner = ((beaten == 0) & (y > 0)).astype(float)
            votes_for_label = np.arange(len(y)) % SIZES[1] == label  # output neuron k votes for class k mod C
            decided, correct = winner.sum(), winner[votes_for_label].sum()
            reward = decided * (correct * (1 - hit_rate) - (1 - correct) * punishment * hit_rate)
            hit_rate += decided * (correct - hit_rate) / rstdp.HIT_RATE_WINDOW
            norm = np.linalg.norm(c[1], axis=0)  # each output neuron's eligibility row
            grads[1] -= reward * winner * rstdp.WEIGHT_NORM * c[1] / np.where(norm > 0, norm, 1.0)
    keys = ["input_hidden1.w", "hidden1_output.w", "hidden1.bias", "output.bias"]
    params = [W[0], W[1], b[0], b[1]]
    updated = [p - lr * g / len(labels) for p, g in zip(params, grads)]
    if rule == "rstdp":  # then every output neuron's weights are centred (and, orthogonal, have their component
        # along the centred m of unit length removed) and scaled to norm g
        centred = updated[1] - updated[1].mean(axis=0)
        if orthogonal:
            u = hidden_spikes - hidden_spikes.mean()
            u /= np.linalg.norm(u)
            centred -= np.outer(u, u @ centred)
        updated[1] = centred * rstdp.WEIGHT_NORM / np.linalg.norm(centred, axis=0)
    return {key: p.ravel() for key, p in zip(keys, updated)}


@pytest.mark.parametrize(
    "rule, seed, drive, decision_neurons, punishment, orthogonal, target",
    [
        ("brp-stdp", 7, 0.6, 0, 1.0, False, "runtime"),
        ("rstdp", 2, 0.6, 0, 1.0, False, "runtime"),
        ("rstdp", 3, 0.6, 0, 1.0, False, "runtime"),
    ]
    + [("rstdp", 4, 0.6, 0, 1.0, False, "runtime"), ("rstdp", 5, 1.0, 0, 1.0, False, "runtime")]
    + [("rstdp", 6, 1.0, 3, 1.0, False, "runtime"), ("rstdp", 6, 1.0, 3, 2.0, False, "runtime")]
    + [("rstdp", 6, 1.0, 3, 2.0, True, "runtime")]
    + compiled_cases(("brp-stdp", 7, 0.6, 0, 1.0, False), ("rstdp", 6, 1.0, 3, 2.0, True)),
)
def test_minibatch_update_matches_numpy_reference(
    rule, seed, drive, decision_neurons, punishment, orthogonal, target, build_cache
):
    """``drive`` scales the output weights: at 1.0 several outputs spike, so the winner-take-all acts;
    ``decision_neurons`` per class (0: the rule's); ``punishment`` weighs a wrong decision's dopamine; ``orthogonal``
    keeps the decision weights orthogonal to the hidden layer's mean counts. On the runtime device, and compiled
    (queue-free and Brian2's propagation) for BRP-STDP and the orthogonal readout."""
    rng = np.random.default_rng(seed)
    brian_seed(seed)  # the encoder's random numbers: the decision (and so the dopamine) depends on them
    data = rng.uniform(0.3, 1.0, (3, N_IN))
    labels = np.array([1, 2, 0])
    spec = NetworkSpec(
        n_inputs=N_IN, sizes=SIZES, n_rows=3, n_slots=3, T=T, optimizer="sgd", batch_size=2, rule=rule,
        decision_neurons=decision_neurons, punishment=punishment, orthogonal_readout=orthogonal,
    )  # fmt: skip
    if decision_neurons:
        assert spec.n_outputs == SIZES[1] * decision_neurons
    feedback = feedback_matrices(spec, rng)
    state = initial_state(spec, rng)
    state["input_hidden1.w"] = rng.uniform(-0.2, 0.8, N_IN * SIZES[0])
    state["hidden1_output.w"] = rng.uniform(-0.3, drive, SIZES[0] * spec.n_outputs)  # outputs that differ: decisions
    if rule == "rstdp":  # output neuron C + labels[0] (it votes for class labels[0]) fires at every step: a first
        # correct decision (through the class of neuron i, i mod C), so the hit rate and the dopamine are not 0
        state["output.bias"][SIZES[1] + labels[0]] = 5.0  # above the inhibition of several rivals
    lr = 0.05
    inputs, _ = plan_run(spec, np.arange(2), np.array([2]), labels, lr, 0)

    def make_network(propagation):
        net = build_network(replace(spec, propagation=propagation), data, inputs, state, feedback)
        net.add(SpikeMonitor(net["input"], name="input_spikes"))
        return net, spec.duration

    arrays = simulate(make_network, target, build_cache, f"{spec.key()}|stdp reference", seed)
    rasters = sample_rasters(arrays, "input_spikes", 2, T, N_IN)
    expected = reference_update(rasters, labels[:2], state, feedback, rule, lr, punishment, orthogonal)
    if punishment != 1:  # the case punishes a wrong decision, so its weight shows in the update
        scaled = reference_update(rasters, labels[:2], state, feedback, rule, lr, 1.0, orthogonal)["hidden1_output.w"]
        assert np.max(np.abs(scaled - expected["hidden1_output.w"])) > 1e-6, "no wrong decision to punish"
    if orthogonal:  # the projection moves the weights, and leaves them orthogonal to the centred hidden counts
        plain = reference_update(rasters, labels[:2], state, feedback, rule, lr, punishment)["hidden1_output.w"]
        assert np.max(np.abs(plain - expected["hidden1_output.w"])) > 1e-6, "the projection should change the weights"
    W = layer_weights(state)
    b = [state["hidden1.bias"], state["output.bias"]]
    if rule == "brp-stdp":  # the window gates some hidden spikes, not all: the case tests the gate
        potentials = []
        spikes, _, _ = forward(rasters[0], W, b, 0.0, potentials)
        outside = potentials[0][spikes[1] > 0] >= 1.0
        assert outside.any() and not outside.all(), "hidden spikes should lie both inside and outside the window"
    if rule == "rstdp":  # the readout holds each sample's output counts and summed potentials (mV)
        spikes, _, vsum = forward(rasters[0], W, b, rstdp.WTA_INHIBITION)
        np.testing.assert_array_equal(arrays["readout.cnt"][1], spikes[2].sum(axis=0))
        np.testing.assert_allclose(arrays["readout.vsum"][1], vsum, rtol=0, atol=1e-9)
        if drive == 1.0:
            assert np.sum(spikes[2].sum(axis=0) > 0) >= 2, "several outputs should spike in this case"
            uninhibited, _, _ = forward(rasters[0], W, b, 0.0)
            assert not np.array_equal(uninhibited[2], spikes[2]), "the inhibition should change the output spikes"
    changed = set()
    for key, value in expected.items():
        got = arrays[key]
        np.testing.assert_allclose(got, value, rtol=0, atol=1e-9, err_msg=f"{rule}: {key} after one minibatch")
        if np.max(np.abs(got - state[key])) > 1e-6:
            changed.add(key)
    trained = {"hidden1_output.w"} | ({"input_hidden1.w", "output.bias"} if rule == "brp-stdp" else set())
    assert trained <= changed, f"the minibatch should change {sorted(trained)}, changed {sorted(changed)}"


def test_decision_is_most_spikes_then_summed_potential_else_none():
    counts = np.array([[3, 0, 2, 2, 1], [1, 0, 2, 2, 1], [0, 0, 1, 0, 0]])  # classes x samples
    vsum = np.array([[1.0, 0.5, 4.0, 3.0, 2.0], [9.0, 0.9, 5.0, 3.0, 2.0], [0.0, 0.1, 9.0, 0.0, 0.0]])
    # most spikes; silent: none; tie in counts: the higher potential; tie in both: none (twice)
    np.testing.assert_array_equal(decisions(counts, vsum), [0, -1, 1, -1, -1])


def test_conductance_based_readout_sums_its_potential_in_mV():
    """R-STDP with the COBA neuron: the decision's summed potential is in mV whatever the weight unit."""
    rng = np.random.default_rng(0)
    spec = NetworkSpec(n_inputs=N_IN, sizes=SIZES, n_rows=2, n_slots=2, T=T, neuron=COBAParameters(), rule="rstdp")
    state = initial_state(spec, rng)
    state["input_hidden1.w"] = np.full(N_IN * SIZES[0], 2.0)
    state["hidden1_output.w"] = np.full(SIZES[0] * spec.n_outputs, 2.0)
    inputs, _ = plan_run(spec, np.arange(1), np.array([1]), np.array([0, 1]), 0.01, 0)
    net = build_network(spec, np.ones((2, N_IN)), inputs, state, feedback_matrices(spec, rng))
    potential = StateMonitor(net["output"], "v", record=True, when="groups", order=STEP * 2 + TRACE)
    net.add(potential)
    net.run(spec.duration)
    expected = potential.v[:, :T].sum(axis=1) / mV  # the potential the threshold sees, in the first sample
    np.testing.assert_allclose(net["readout"].vsum[:, 1], expected, rtol=1e-9)
    assert np.all(np.abs(expected) > 0)


@pytest.mark.parametrize(
    "settings, fragment",
    [
        ({"rule": "brp", "orthogonal_readout": True}, "the orthogonal readout applies to a rule's decision layer"),
        ({"rule": "brp", "punishment": 2.0}, "weighs a decision's dopamine (rstdp), got 2.0 with rule 'brp'"),
        ({"rule": "rstdp", "punishment": 0.0}, "the punishment weight must be > 0"),
    ],
)
def test_decision_settings_need_a_deciding_rule(settings, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        NetworkSpec(n_inputs=N_IN, sizes=SIZES, n_rows=3, n_slots=3, T=T, **settings)


def test_decision_settings_change_the_compiled_structure():
    """A build made without the weighted punishment or the orthogonal readout is never reused for them."""
    base = NetworkSpec(n_inputs=N_IN, sizes=SIZES, n_rows=3, n_slots=3, T=T, rule="rstdp")
    keys = {replace(base, **settings).key() for settings in ({}, {"punishment": 2.0}, {"orthogonal_readout": True})}
    assert len(keys) == 3

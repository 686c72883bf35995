"""One minibatch of BRP (and of pseudo-BP) in Brian2 against a numpy reference of eqs. 2-10."""

from dataclasses import replace

import numpy as np
import pytest
from brian2 import Hz, SpikeMonitor, StateMonitor, ms

from models import optimizers, reward
from models.network import NetworkSpec, build_network
from models.rules import brp
from models.training import feedback_matrices, initial_state, plan_run
from tests.rasters import sample_rasters
from tests.standalone import compiled_cases, simulate

T = 6
N_IN, SIZES = 5, (4, 3)


def reference_update(
    raster_per_sample, labels, state, feedback, form, signal, optimizer, lr, rule="brp", homeostasis=0.0, target=0.0
):
    """Numpy reference: authors' recurrence per step, then eqs. 4-10 and one SGD/Adam step; with ``homeostasis``,
    each hidden delta gains homeostasis * (rate - target) (rates and ``target`` in spikes per step).

    Returns the parameters after the step and the readout's tie-break, the output potentials
    summed over each sample's steps (samples x outputs)."""
    W = [state["input_hidden1.w"].reshape(N_IN, SIZES[0]), state["hidden1_output.w"].reshape(SIZES[0], SIZES[1])]
    b = [state["hidden1.bias"], state["output.bias"]]
    B = feedback["hidden1"]
    grads = [np.zeros_like(W[0]), np.zeros_like(W[1]), np.zeros_like(b[0]), np.zeros_like(b[1])]
    vsums = []
    for raster, label in zip(raster_per_sample, labels):
        mem = [np.zeros(n) for n in SIZES]
        spk = [np.zeros(n) for n in SIZES]
        cnt = [raster.sum(axis=0)] + [np.zeros(n) for n in SIZES]
        gate = [np.zeros(n) for n in SIZES]
        vsum = np.zeros(SIZES[1])
        for t in range(T):
            s = raster[t]
            for k in range(2):
                mem[k] = mem[k] * 0.2 * (1 - spk[k]) + s @ W[k] + b[k]
                gate[k] += (np.abs(mem[k] - 0.5) < 0.5) / (2 * 0.5)
                spk[k] = (mem[k] > 0.5).astype(float)
                cnt[k + 1] += spk[k]
                s = spk[k]
            vsum += mem[1]
        vsums.append(vsum)
        onehot = np.eye(SIZES[1])[label]
        y = cnt[2] / T  # eq. 6
        tp = {"label": onehot, "error": y - onehot, "sign": np.sign(y - onehot)}[signal]  # eqs. 4, 5, 7
        fb = tp @ B  # B^1 TP (eq. 8)
        err_hidden = cnt[1] / T - fb if form == "paper" else fb
        delta_out = (y - onehot) * gate[1] / T  # eq. 10 gate, local delta rule
        if rule == "bp":  # pseudo-BP: errors back through the transposed forward weights
            err_hidden = W[1] @ delta_out
        delta = [err_hidden * gate[0] / T + homeostasis * (cnt[1] / T - target), delta_out]  # eqs. 9, 10
        grads[0] += np.outer(cnt[0] / T, delta[0])
        grads[1] += np.outer(cnt[1] / T, delta[1])
        grads[2] += delta[0]
        grads[3] += delta[1]
    n = len(labels)
    params = [W[0], W[1], b[0], b[1]]
    keys = ["input_hidden1.w", "hidden1_output.w", "hidden1.bias", "output.bias"]
    out = {}
    for key, p, g in zip(keys, params, grads):
        g = g / n
        if optimizer == "sgd":
            out[key] = p - lr * g
        else:
            m = (1 - optimizers.ADAM_BETA1) * g
            v = (1 - optimizers.ADAM_BETA2) * g * g
            m_hat, v_hat = m / (1 - optimizers.ADAM_BETA1), v / (1 - optimizers.ADAM_BETA2)
            out[key] = p - lr * m_hat / (np.sqrt(v_hat) + optimizers.ADAM_EPS)
    return {k: v.ravel() for k, v in out.items()}, np.array(vsums)


CASES = [
    (rule, form, signal, optimizer, "runtime")
    for rule, form, signal in [("brp", f, s) for f in brp.FORMS for s in reward.SIGNALS] + [("bp", "code", "label")]
    for optimizer in optimizers.OPTIMIZERS
] + compiled_cases(("brp", "paper", "error", "adam"), ("bp", "code", "label", "adam"))


@pytest.mark.parametrize("rule, form, signal, optimizer, target", CASES)
def test_minibatch_update_matches_numpy_reference(rule, form, signal, optimizer, target, build_cache):
    """On the runtime device, and compiled (queue-free and Brian2's propagation) for a few cases."""
    check_minibatch_update(rule, form, signal, optimizer, target, build_cache)


@pytest.mark.parametrize(
    "rule, form, target", [("brp", "code", "runtime"), ("brp", "paper", "runtime"), ("bp", "code", "runtime")]
)
def test_homeostatic_term_matches_numpy_reference(rule, form, target, build_cache):
    """--homeostasis 0.5 --target-rate 100 Hz (0.1 spikes per step): the hidden deltas of eqs. 9-10 plus the term."""
    check_minibatch_update(rule, form, "error", "sgd", target, build_cache, homeostasis=0.5, target_hz=100.0)


def check_minibatch_update(rule, form, signal, optimizer, target, build_cache, homeostasis=0.0, target_hz=10.0):
    rng = np.random.default_rng(7)
    n_train, batch = 2, 2
    data = rng.uniform(0.3, 1.0, (3, N_IN))
    labels = np.array([1, 2, 0])
    common = dict(n_inputs=N_IN, sizes=SIZES, n_rows=3, n_slots=3, T=T, batch_size=batch, rule=rule)
    common.update(signal=signal, form=form, optimizer=optimizer, homeostasis=homeostasis, target_rate=target_hz * Hz)
    spec = NetworkSpec(**common)
    feedback = feedback_matrices(spec, rng)
    state = initial_state(spec, rng)
    # large enough initial weights that both layers spike
    state["input_hidden1.w"] = rng.uniform(-0.2, 0.8, N_IN * SIZES[0])
    state["hidden1_output.w"] = rng.uniform(-0.2, 1.0, SIZES[0] * SIZES[1])
    lr = 0.05
    inputs, steps = plan_run(spec, np.arange(n_train), np.array([2]), labels, lr, 0)
    assert steps == 1

    def make_network(propagation):
        net = build_network(replace(spec, propagation=propagation), data, inputs, state, feedback)
        spikes = SpikeMonitor(net["input"], name="input_spikes")
        counts = StateMonitor(
            net["hidden1"], "cnt", record=True, dt=T * ms, when="start", order=-10, name="hidden_counts"
        )
        net.add(spikes, counts)
        return net, spec.duration

    arrays = simulate(make_network, target, build_cache, f"{spec.key()}|brp reference")
    rasters = sample_rasters(arrays, "input_spikes", n_train, T, N_IN)
    assert sum(r.sum() for r in rasters) > 0
    assert arrays["hidden_counts.cnt"][1:3].sum() > 0, "the hidden layer should spike in the training samples"
    expected, vsums = reference_update(
        rasters, labels[:n_train], state, feedback, form, signal, optimizer, lr, rule, homeostasis, target_hz * 1e-3
    )
    readout = arrays["readout.vsum"][1 : n_train + 1]
    np.testing.assert_allclose(readout, vsums, rtol=0, atol=1e-9, err_msg="summed output potentials (tie-break)")
    for key, value in expected.items():
        got = arrays[key]
        np.testing.assert_allclose(got, value, rtol=0, atol=1e-9, err_msg=f"{key} after one minibatch")
        assert not np.allclose(got, state[key]), f"{key} did not change"

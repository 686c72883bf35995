"""Eq. 2 neurons against independent numpy recurrences, step by step."""

import math

import numpy as np
import pytest
from brian2 import DimensionMismatchError, Network, NeuronGroup, StateMonitor, TimedArray, ms, mV, nS, pF, umetre

from models.layers import (
    ORDER_RESET,
    STEP,
    THRESHOLD_STEP,
    TRACE,
    TRACE_SPIKE,
    Stage,
    dense_connection,
    lateral_inhibition,
    sample_operation,
    spiking_layer,
)
from models.neurons import COBAParameters, LIFParameters, lif_from_membrane, neuron_parameters

DT = 1 * ms


def run_layer(neuron, raster, weights, bias, steps, sample_steps=None, inhibition=0.0):
    """Drive one layer with an input spike raster (steps x n_in); return v (mV) before the threshold, and spikes.

    With ``sample_steps``, the layer gets the network's reset between samples (:data:`models.layers.ORDER_RESET`);
    with ``inhibition``, lateral inhibition of that weight among its neurons (:func:`models.layers.lateral_inhibition`).
    """
    n_in, n_out = weights.shape
    namespace = dict(neuron.namespace, raster=TimedArray(raster.astype(float), dt=DT), T_steps=steps)
    source = NeuronGroup(
        n_in, "cnt : 1", threshold="raster(t, i) > 0.5", reset="cnt += 1", namespace=namespace, dt=DT, name="source"
    )
    source.state_updater.when = "groups"
    source.thresholder["spike"].when, source.thresholder["spike"].order = "groups", THRESHOLD_STEP
    layer, integrate = spiking_layer(neuron, n_out, 1, namespace, DT, "layer")
    layer.bias = bias
    synapses = dense_connection(source, layer, neuron, Stage("source", "input", (n_in,), 0), namespace, DT)
    synapses.w = weights.ravel()
    # record the potential the threshold sees: after this step's input, before the reset
    monitor = StateMonitor(layer, "v", record=True, when="groups", order=STEP + TRACE)
    spikes = StateMonitor(layer, "cnt", record=True, when="groups", order=STEP + TRACE_SPIKE)
    net = Network(source, layer, integrate, synapses, monitor, spikes)
    if inhibition:
        net.add(lateral_inhibition(layer, neuron, 1, inhibition, namespace, DT))
    if sample_steps:
        net.add(sample_operation(layer, neuron.sample_reset_code, ORDER_RESET, sample_steps * DT, "layer_reset"))
    net.run(steps * DT)
    counts = np.asarray(spikes.cnt).T
    fired = np.diff(np.vstack([np.zeros(n_out), counts]), axis=0)
    return np.asarray(monitor.v / mV).T, fired


def lif_reference(
    raster, weights, bias, decay, v_th, v_reset, v_rest, n_ref, w_unit, sample_steps=None, inhibition=0.0
):
    """Independent recurrence of eq. 2: leak off while refractory, no spike while refractory; with
    ``sample_steps``, every sample starts with a fresh neuron (at rest, not refractory); with ``inhibition``, each
    spike of step t lowers the input of the layer's other neurons at step t + 1 by that weight."""
    steps, n_out = len(raster), weights.shape[1]
    v = np.full(n_out, v_reset)
    last = np.full(n_out, -(10**6))
    trace, fired = np.zeros((steps, n_out)), np.zeros((steps, n_out))
    for t in range(steps):
        if sample_steps and t % sample_steps == 0:
            v, last = np.full(n_out, v_reset), np.full(n_out, -(10**6))
        refractory = (t - last) < n_ref
        v = np.where(refractory, v, v_rest + (v - v_rest) * decay)
        v = v + (raster[t] @ weights + bias - inhibition * others_fired(fired, t)) * w_unit
        trace[t] = v
        spike = (v > v_th) & ~refractory
        fired[t] = spike
        last = np.where(spike, t, last)
        v = np.where(spike, v_reset, v)
    return trace, fired


@pytest.fixture
def drive():
    rng = np.random.default_rng(1)
    steps, n_in, n_out = 40, 12, 6
    raster = rng.random((steps, n_in)) < 0.3
    weights = rng.uniform(-0.3, 0.6, (n_in, n_out))
    bias = rng.uniform(-0.1, 0.1, n_out)
    return raster, weights, bias, steps


def test_authors_parametrisation_is_the_authors_recurrence(drive):
    """mem(t) = 0.2 mem(t-1) (1 - spike(t-1)) + W x(t) + b, spike = mem > 0.5 (authors' code)."""
    raster, weights, bias, steps = drive
    neuron = LIFParameters.authors()
    assert neuron.decay(DT) == pytest.approx(0.2, abs=1e-12)
    v, fired = run_layer(neuron, raster, weights, bias, steps)
    mem, spike = np.zeros(weights.shape[1]), np.zeros(weights.shape[1])
    for t in range(steps):
        mem = mem * 0.2 * (1 - spike) + raster[t] @ weights + bias
        spike = (mem > 0.5).astype(float)
        np.testing.assert_allclose(v[t], mem, atol=1e-12, err_msg=f"potential differs at step {t}")
        np.testing.assert_array_equal(fired[t], spike, err_msg=f"spikes differ at step {t}")
    assert fired.sum() > 10, "the drive should make the layer spike"


def test_refractory_period_stops_leak_and_spikes(drive):
    raster, weights, bias, steps = drive
    neuron = LIFParameters(tau_m=4 * ms, tau_ref=3 * ms)
    v, fired = run_layer(neuron, raster, weights, bias, steps)
    ref_v, ref_fired = lif_reference(raster, weights, bias, math.exp(-0.25), 0.5, 0.0, 0.0, 3, 1.0)
    np.testing.assert_allclose(v, ref_v, atol=1e-12)
    np.testing.assert_array_equal(fired, ref_fired)
    assert fired.sum() > 5


def test_each_sample_starts_with_a_fresh_neuron_even_after_a_spike_in_the_last_step(drive):
    """A neuron that spiked in a sample's last steps is not refractory in the next sample: its leak is on
    and it may spike from the first step (Brian2 recomputes not_refractory from lastspike, which the reset sets)."""
    raster, weights, bias, steps = drive
    neuron = LIFParameters(tau_m=4 * ms, tau_ref=3 * ms)
    v, fired = run_layer(neuron, raster, weights, bias + 0.3, steps, sample_steps=5)
    ref_v, ref_fired = lif_reference(raster, weights, bias + 0.3, math.exp(-0.25), 0.5, 0.0, 0.0, 3, 1.0, 5)
    np.testing.assert_allclose(v, ref_v, atol=1e-12)
    np.testing.assert_array_equal(fired, ref_fired)
    late = fired[4::5].any(axis=1) | fired[3::5].any(axis=1)  # spikes in the last two steps of a sample
    assert late.sum() >= 3 and fired[5::5][late[:-1]].sum() > 0, "the drive should spike across sample edges"


def test_adaptive_threshold_against_its_recurrence(drive):
    """theta(t) = theta(t-1) exp(-dt/tau_a) + a * spike(t-1); spike(t) = v(t) > v_th + theta(t); theta = 0 at each
    sample's start, with the potential. Fewer spikes than the fixed threshold on the same drive."""
    raster, weights, bias, steps = drive
    neuron = LIFParameters(tau_m=4 * ms, tau_ref=1 * ms, adaptation=0.4 * mV, tau_adaptation=5 * ms)
    v, fired = run_layer(neuron, raster, weights, bias + 0.3, steps, sample_steps=10)
    decay, rho = math.exp(-0.25), math.exp(-0.2)
    n_out = weights.shape[1]
    spike = np.zeros(n_out, dtype=bool)
    for t in range(steps):
        if t % 10 == 0:
            mem, theta = np.zeros(n_out), np.zeros(n_out)
        else:
            mem = np.where(spike, 0.0, mem)
            theta = theta + 0.4 * spike
        mem = mem * decay + raster[t] @ weights + bias + 0.3
        theta = theta * rho
        spike = mem > 0.5 + theta
        np.testing.assert_allclose(v[t], mem, atol=1e-12, err_msg=f"potential differs at step {t}")
        np.testing.assert_array_equal(fired[t], spike, err_msg=f"spikes differ at step {t}")
    _, fixed = run_layer(LIFParameters(tau_m=4 * ms, tau_ref=1 * ms), raster, weights, bias + 0.3, steps, 10)
    assert 10 < fired.sum() < 0.8 * fixed.sum(), (fired.sum(), fixed.sum())
    assert "theta" not in LIFParameters().equations.names, "without adaptation, the paper's neuron is unchanged"


def test_pseudo_gradient_window_integrates_to_one_step_of_the_potential_unit():
    """Eq. 10: f'(V) = 1/(2a) on |V - V_th| < a, the derivative of a ramp from 0 to 1 across the window, with V
    in the unit the layer's inputs are measured in (w_unit for eq. 2, bias_unit for the conductance model)."""
    for neuron, unit in ((LIFParameters(gate_width=0.25 * mV), 1 * mV), (COBAParameters(), 1 * mV)):
        height = neuron.namespace["gate_height"]
        assert height * float(2 * neuron.gate_width / unit) == pytest.approx(1.0), neuron.kind


def test_physical_parametrisation_from_membrane(drive):
    raster, weights, bias, steps = drive
    neuron = lif_from_membrane(
        200 * pF, 10 * nS, v_rest=-70 * mV, v_reset=-75 * mV, v_th=-60 * mV, w_unit=4 * mV, tau_ref=2 * ms
    )
    assert neuron.tau_m == 20 * ms
    v, fired = run_layer(neuron, raster, weights, bias, steps)
    ref_v, ref_fired = lif_reference(raster, weights, bias, math.exp(-1 / 20), -60, -75, -70, 2, 4.0)
    np.testing.assert_allclose(v, ref_v, atol=1e-9)
    np.testing.assert_array_equal(fired, ref_fired)
    assert fired.sum() > 5


def others_fired(fired, t):
    """Spikes of the layer's other neurons in step t - 1 (what lateral inhibition delivers in step t)."""
    return fired[t - 1].sum() - fired[t - 1] if t > 0 else 0


def coba_reference(p: COBAParameters, raster, weights, bias, n_ref, inhibition=0.0):
    """Independent numpy steps of the conductance-based membrane (exponential Euler with this step's conductances,
    leak off while refractory, conductances decaying after the step); with ``inhibition``, each spike of step t
    raises the inhibitory conductance of the layer's other neurons at step t + 1 by that weight; returns v (V)
    before the threshold, and spikes."""
    steps, n_out = len(raster), weights.shape[1]
    dt, C, gl = 1e-3, float(p.C_m), float(p.g_leak)
    vr, vreset, vth, Ee, Ei = (float(x) for x in (p.v_rest, p.v_reset, p.v_th, p.E_e, p.E_i))
    vm, ge, gi = np.full(n_out, vreset), np.zeros(n_out), np.zeros(n_out)
    last = np.full(n_out, -(10**6))
    trace, fired = np.zeros((steps, n_out)), np.zeros((steps, n_out))
    for t in range(steps):
        leak = gl * ((t - last) >= n_ref)
        ge = ge + raster[t] @ np.clip(weights, 0, None) * float(p.w_unit)
        gi = gi + (raster[t] @ np.clip(-weights, 0, None) + inhibition * others_fired(fired, t)) * float(p.w_unit)
        g = leak + ge + gi
        x = g * dt / C
        relaxed = np.where(x > 0, -np.expm1(-x) / np.where(x > 0, x, 1), 1.0)
        vm = vm + (leak * vr + ge * Ee + gi * Ei - g * vm) * dt / C * relaxed
        ge, gi = ge * math.exp(-dt / float(p.tau_e)), gi * math.exp(-dt / float(p.tau_i))
        vm = vm + bias * float(p.bias_unit)
        trace[t] = vm
        fired[t] = (vm > vth) & ((t - last) >= n_ref)
        last = np.where(fired[t] > 0, t, last)
        vm = np.where(fired[t] > 0, vreset, vm)
    return trace, fired


@pytest.mark.parametrize(
    "neuron, n_ref",
    [
        (COBAParameters(), 1),
        (COBAParameters(tau_ref=3 * ms), 3),
        (COBAParameters.paper(tau_ref=2 * ms), 2),
    ],
    ids=["vogels-abbott", "refractory-3ms", "paper-membrane"],
)
def test_conductance_based_variant(drive, neuron, n_ref):
    """The COBA membrane against a numpy reference of its step, with excitatory and inhibitory conductances; input
    moves the potential in the step it arrives, as in eq. 2."""
    raster, weights, bias, steps = drive
    raster, weights = raster.copy(), weights * 0.15
    raster[:3] = False
    raster[3, 0] = True
    v, fired = run_layer(neuron, raster, weights, bias, steps)
    ref_v, ref_fired = coba_reference(neuron, raster, weights, bias, n_ref)
    np.testing.assert_allclose(v * 1e-3, ref_v, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(fired, ref_fired)
    assert 0 < fired.sum() < fired.size / 2, "the drive should make the COBA layer spike, not saturate"
    quiet = raster.copy()
    quiet[3, 0] = False
    quiet_v = coba_reference(neuron, quiet, weights, bias, n_ref)[0]
    assert np.abs(v[3] * 1e-3 - quiet_v[3]).max() > 1e-3, "the input of step 3 moves the potential in step 3"
    np.testing.assert_allclose(v[:3] * 1e-3, quiet_v[:3], atol=1e-12, rtol=0)
    if n_ref > 1:
        assert (ref_v != coba_reference(neuron, raster, weights, bias, 1)[0]).any(), "refractoriness matters"


@pytest.mark.parametrize("kind", ["lif", "coba"])
def test_lateral_inhibition_against_its_recurrence(drive, kind):
    """--inhibition: each spike lowers the potential (eq. 2) or raises the inhibitory conductance (COBA) of the
    layer's other neurons in the next step, and the layer fires less."""
    raster, weights, bias, steps = drive
    if kind == "lif":
        neuron, strength = LIFParameters(), 0.3
        weights = weights + 0.2

        def reference(inhibition):
            return lif_reference(raster, weights, bias, 0.2, 0.5, 0.0, 0.0, 1, 1.0, inhibition=inhibition)
    else:
        neuron, strength = COBAParameters(), 0.05
        weights = weights * 0.15

        def reference(inhibition):
            v, fired = coba_reference(neuron, raster, weights, bias, 1, inhibition=inhibition)
            return v * 1e3, fired

    v, fired = run_layer(neuron, raster, weights, bias, steps, inhibition=strength)
    ref_v, ref_fired = reference(strength)
    np.testing.assert_allclose(v, ref_v, atol=1e-9, rtol=0)
    np.testing.assert_array_equal(fired, ref_fired)
    free = reference(0.0)[1]
    assert 0 < fired.sum() < free.sum(), (fired.sum(), free.sum())


def test_paper_membrane_parametrisation():
    """The paper's C = 1 uF/cm^2 over a stated membrane area, and its g = 0.2 nS."""
    neuron = COBAParameters.paper()
    assert float(neuron.C_m) == pytest.approx(200e-12) and float(neuron.g_leak) == pytest.approx(0.2e-9)
    assert float(neuron.C_m / neuron.g_leak) == pytest.approx(1.0)
    assert float(COBAParameters.paper(area=100 * umetre**2).C_m) == pytest.approx(1e-12)
    with pytest.raises(DimensionMismatchError):
        COBAParameters.paper(area=1 * mV)


def test_wrong_units_are_rejected():
    with pytest.raises(DimensionMismatchError):
        lif_from_membrane(1 * mV, 10 * nS)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="unknown neuron model 'izh'"):
        neuron_parameters("izh")

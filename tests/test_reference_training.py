"""Whole runs of training (several Adam steps, a partial last minibatch, two epochs) against a numpy reference.

The networks are trained through :class:`models.training.Trainer`, the path of the README's numbers: one
compiled program per structure, rerun for every epoch with new run arguments (sample order, optimizer
schedules, weights and moments), or on the runtime device built anew per epoch. The inputs are fixed spike
rasters (``inputs='events'``), so nothing is random and the reference reads the same spikes.

The reference is written from the paper's equations as the models document them, not from their code
strings: the authors' recurrence of eq. 2 (``mem = 0.2 mem (1 - spike) + W x + b``, spike when
``mem > 0.5``, :mod:`models.neurons`), the pseudo-gradient of eq. 10 (``1 / (2a)`` where ``|mem - 0.5| < a``,
a = 0.5), the output rates of eq. 6, the reward signals of eqs. 4, 5 and 7, the local errors of eqs. 8-9 in
the 'code' and 'paper' forms (:mod:`models.rules.brp`), the convolution as ``scipy.signal.correlate``, the
pooling of :mod:`models.layers` (mean or max of a 2x2 window's spikes, or eq. 2 units driven with 2/4 of a
spike from each window neuron), the mean gradient of each minibatch of consecutive samples (a last partial
minibatch averaged over its own samples, as PyTorch's ``DataLoader(drop_last=False)``), and PyTorch's Adam
(``m_hat = m / (1 - b1^k)``, ``v_hat = v / (1 - b2^k)``, ``p -= lr m_hat / (sqrt(v_hat) + eps)``, k counting
the optimizer steps over the runs).

Each case runs on the runtime device; compiled (cpp_standalone, queue-free propagation) are the FC net in
float64 and the conv nets in float32 (the README's default precision), one build each. The float32
tolerances are argued at :func:`float32_tolerance`, the compiled float64 one at :func:`float64_tolerance`.
"""

from dataclasses import replace
from functools import partial

import numpy as np
import pytest
from scipy.signal import correlate

from models import optimizers
from models.encoding import pack_frames
from models.layers import LIF_POOL_GAIN
from models.network import NetworkSpec
from models.topology import Conv
from models.training import Trainer, feedback_matrices, initial_state, sample_slots

T = 6
DECAY, V_TH, GATE_A = 0.2, 0.5, 0.5  # eq. 2 as the authors' recurrence (potentials in mV), eq. 10's half-width
LIF_POOL_WEIGHT = LIF_POOL_GAIN / 4  # lif pooling: a unit receives (about) 2/4 of a spike from each of its window's 4


def conv_forward(x, kernel, bias, conv):
    """Cross-correlation of (C, H, W) ``x`` with (O, C, k, k) ``kernel``, zero padding and stride, plus bias."""
    p = conv.padding
    padded = np.pad(x, ((0, 0), (p, p), (p, p)))
    full = np.stack([correlate(padded, kernel[o], mode="valid", method="direct")[0] for o in range(len(kernel))])
    return full[:, :: conv.stride, :: conv.stride] + bias[:, None, None]


def conv_kernel_gradient(rates, delta, kernel_shape, conv):
    """dL/dK[o, c, ky, kx]: the sum over output positions (y, x) of delta[o, y, x] rates[c, y s - p + ky, x s - p + kx]
    (rates zero in the padding)."""
    p, s = conv.padding, conv.stride
    padded = np.pad(rates, ((0, 0), (p, p), (p, p)))
    _, h, w = delta.shape
    grad = np.zeros(kernel_shape, dtype=delta.dtype)
    for o in range(kernel_shape[0]):
        for ky in range(kernel_shape[2]):
            for kx in range(kernel_shape[3]):
                patch = padded[:, ky : ky + s * h : s, kx : kx + s * w : s]
                grad[o, :, ky, kx] = np.sum(patch * delta[o], axis=(1, 2))
    return grad


def pool_2x2(spikes, kind):
    """Mean or max of non-overlapping 2x2 windows of (C, H, W); a last odd row / column is dropped."""
    c, h, w = spikes.shape
    blocks = spikes[:, : h // 2 * 2, : w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2)
    return blocks.mean(axis=(2, 4)) if kind == "avg" else blocks.max(axis=(2, 4))


class Reference:
    """The network of ``spec`` (optionally one 2-D convolution + pooling, then FC layers) in numpy.

    Works in ``dtype`` throughout (float32 emulates the compiled float32 program up to rounding).
    ``partial_over_batch`` and ``restart_steps`` are deliberate mistakes (a partial minibatch averaged over
    the batch size; Adam's bias correction restarted at every run), to show the comparison detects them.
    """

    def __init__(self, spec, state, feedback, dtype=np.float64, partial_over_batch=False, restart_steps=False):
        self.spec, self.dtype = spec, dtype
        self.partial_over_batch, self.restart_steps = partial_over_batch, restart_steps
        self.p = {k: np.array(v, dtype=dtype) for k, v in state.items() if k != "optimizer_steps"}
        self.k = int(state["optimizer_steps"][0])
        self.B = {name: np.asarray(b, dtype=dtype) for name, b in feedback.items()}
        self.conv = spec.convs[0] if spec.convs else None
        # FC layers in forward order: (layer, presynaptic group)
        names = [f"hidden{k}" for k in range(1, len(spec.sizes))] + ["output"]
        pres = ["pool1" if self.conv else "input"] + names[:-1]
        self.fc = list(zip(names, pres))
        self.margin = np.inf  # closest approach of any potential to the threshold or to an edge of eq. 10's window

    def _lif(self, layer, drive, gated=True):
        """One step of eq. 2 for ``layer`` (dict of mem, spk, gate, cnt), with eq. 10's pseudo-gradient where
        ``gated`` (not in pooling units); returns the spikes."""
        layer["mem"] = layer["mem"] * self.dtype(DECAY) * (1 - layer["spk"]) + drive
        distance = np.abs(layer["mem"] - V_TH)
        # closest approach to the threshold (and to the gate's edges 0 and 1), but for the exact values that
        # the recurrence reaches by design: 0 (no input), one or two spikes into a lif pooling unit (just
        # below the threshold, and twice that)
        near = [distance, np.abs(distance - GATE_A)] if gated else [distance]
        one_spike = self.dtype(LIF_POOL_WEIGHT)
        exact = (layer["mem"] == 0) | (layer["mem"] == one_spike) | (layer["mem"] == 2 * one_spike)
        self.margin = min(self.margin, *(float(np.min(x[~exact], initial=np.inf)) for x in near))
        if gated:
            layer["gate"] += (distance < GATE_A) * self.dtype(1 / (2 * GATE_A))
        layer["spk"] = (layer["mem"] > V_TH).astype(self.dtype)
        layer["cnt"] += layer["spk"]
        return layer["spk"]

    def _fresh(self, shape):
        return {key: np.zeros(shape, dtype=self.dtype) for key in ("mem", "spk", "gate", "cnt")}

    def sample(self, raster):
        """Forward pass of one sample ((T, inputs) 0/1): per group its spike count (and gate sum), the output's
        summed potential (the readout's tie-break)."""
        spec, d = self.spec, self.dtype
        groups = {"input": {"cnt": raster.sum(axis=0).astype(d)}}
        if self.conv:
            shape_in = spec.input_shape
            kernel = self.p["conv1_kernel.w"].reshape(self.conv.channels, shape_in[0], self.conv.kernel, -1)
            bias = self.p["conv1_channel.bias"]
            conv_shape = conv_forward(np.zeros(shape_in, d), kernel, bias, self.conv).shape
            groups["conv1"] = self._fresh(conv_shape)
            pool_shape = pool_2x2(np.zeros(conv_shape, d), "avg").shape
            groups["pool1"] = self._fresh(pool_shape)
        for name, _ in self.fc:
            groups[name] = self._fresh(self.p[f"{name}.bias"].shape)
        vsum = np.zeros(spec.sizes[-1], dtype=d)
        for t in range(spec.T):
            s = raster[t].astype(d)
            if self.conv:
                spikes = self._lif(groups["conv1"], conv_forward(s.reshape(shape_in), kernel, bias, self.conv))
                if spec.pooling == "lif":
                    window_sum = 4 * pool_2x2(spikes, "avg")
                    s = self._lif(groups["pool1"], d(LIF_POOL_WEIGHT) * window_sum, gated=False)
                else:
                    s = pool_2x2(spikes, spec.pooling)
                    groups["pool1"]["cnt"] += s  # the pooled activity the next layer's rule reads
                s = s.ravel()
            for name, pre in self.fc:
                W = self.p[f"{pre}_{name}.w"].reshape(s.size, -1)  # row-major (pre, post)
                s = self._lif(groups[name], s @ W + self.p[f"{name}.bias"])
            vsum += groups["output"]["mem"]
        return groups, vsum

    def gradients(self, groups, label):
        """Eqs. 4-10 at a training sample's end: the gradient of every learned array."""
        spec, d, T = self.spec, self.dtype, self.spec.T
        out = groups["output"]
        target = np.eye(spec.sizes[-1], dtype=d)[label]
        error = (out["cnt"] - T * target) / d(T)  # y - onehot (eqs. 5, 6), exactly 0 where the output hit the label
        tp = {"label": target, "error": error, "sign": np.sign(error)}[spec.signal]
        delta = {"output": error * out["gate"] / d(T)}  # local delta rule with eq. 10's gate
        for name in ["conv1"] * bool(self.conv) + [name for name, _ in self.fc[:-1]]:
            g = groups[name]
            fb = (tp @ self.B[name]).reshape(g["cnt"].shape)  # B^l TP (eq. 8)
            err = fb if spec.form == "code" else g["cnt"] / d(T) - fb  # eq. 9, the two forms
            delta[name] = err * g["gate"] / d(T)
        grads = {}
        for name, pre in self.fc:
            grads[f"{pre}_{name}.w"] = np.outer(groups[pre]["cnt"].ravel() / d(T), delta[name]).ravel()
            grads[f"{name}.bias"] = delta[name]
        if self.conv:
            rates = groups["input"]["cnt"].reshape(spec.input_shape) / d(T)
            shape = (self.conv.channels, spec.input_shape[0], self.conv.kernel, self.conv.kernel)
            grads["conv1_kernel.w"] = conv_kernel_gradient(rates, delta["conv1"], shape, self.conv).ravel()
            grads["conv1_channel.bias"] = delta["conv1"].sum(axis=(1, 2))
        return grads

    def adam(self, grads, count, lr):
        """One Adam step (PyTorch's) on the mean gradient over ``count`` samples."""
        self.k += 1
        b1, b2, eps = optimizers.ADAM_BETA1, optimizers.ADAM_BETA2, optimizers.ADAM_EPS
        for key, total in grads.items():
            g = total / self.dtype(count)
            m = self.p[f"{key}_m"] = b1 * self.p[f"{key}_m"] + (1 - b1) * g
            v = self.p[f"{key}_v"] = b2 * self.p[f"{key}_v"] + (1 - b2) * g * g
            m_hat, v_hat = m / self.dtype(1 - b1**self.k), v / self.dtype(1 - b2**self.k)
            self.p[key] = self.p[key] - self.dtype(lr) * m_hat / (np.sqrt(v_hat) + self.dtype(eps))

    def run(self, rasters, train_rows, test_rows, labels, lr):
        """A run as the Trainer's: the training samples in order, a minibatch update after every ``batch_size``
        samples (and after the last), then the test samples. Returns the predictions (most output spikes, ties
        broken by the summed potential, -1 when silent or still tied), the summed output potentials
        (samples x outputs) and the spikes of each group in each sample."""
        if self.restart_steps:
            self.k = 0
        rows = np.concatenate([train_rows, test_rows]).astype(int)
        batch = self.spec.batch_size
        predictions, vsums, counts = [], [], []
        grads, n = {}, 0
        for slot, row in enumerate(rows):
            groups, vsum = self.sample(rasters[row])
            cnt = groups["output"]["cnt"]
            leaders = np.flatnonzero(cnt == cnt.max())
            if len(leaders) > 1:  # ties broken by the summed potential
                leaders = leaders[vsum[leaders] == vsum[leaders].max()]
            predictions.append(int(leaders[0]) if cnt.max() > 0 and len(leaders) == 1 else -1)
            vsums.append(vsum)
            counts.append({name: float(g["cnt"].sum()) for name, g in groups.items()})
            if slot < len(train_rows):
                for key, g in self.gradients(groups, labels[row]).items():
                    grads[key] = grads.get(key, 0) + g
                n += 1
            if n and ((slot + 1) % batch == 0 or slot + 1 == len(train_rows)):
                self.adam(grads, batch if self.partial_over_batch else n, lr)
                grads, n = {}, 0
        return np.array(predictions), np.array(vsums), counts


class KeepingTrainer(Trainer):
    """A Trainer that keeps its runtime network too (to read the readout's summed potentials)."""

    def _runtime_run(self, *args):
        self.net = super()._runtime_run(*args)
        return self.net


def float64_tolerance(expected, compiled):
    """float64: 1e-9 on the runtime device (numpy evaluates the expressions as written). Compiled, gcc fuses
    ``inv_T * cnt - fb`` into one multiply-add (contraction is on under -ffast-math), so an output error that
    is exactly 0 (the rate equals the target: 6 * (1/6) - 1 with the product unrounded) comes out as -5.6e-17.
    Adam divides it by sqrt(v_hat) + eps ~ 1e-8 and moves the weight by up to lr * 1e-8 per step: measured
    1.4e-10 on the weights after six steps, 4e-9 on the summed potentials, which add some 30 weights. Hence
    1e-8 compiled; the deliberate mistakes below move the arrays by more than 1e-3."""
    return {"rtol": 0, "atol": 1e-8 if compiled else 1e-9}


def float32_tolerance(expected, compiled):
    """float32 keeps 24 bits: each rounding errs by at most 6e-8 relative. The spike counts and the sums of
    eq. 10's gate are integers and identical on both sides (checked: no potential comes within 1e-5 mV of
    the threshold or of the gate's edges, while the potentials differ by ~1e-7 mV: Brian2 holds them in volt,
    the reference in mV, with other roundings). Everything continuous (rates, errors, gradients, Adam's
    moments and steps, parameters) lies some tens of roundings from the inputs after six Adam steps (measured
    up to 3e-8 relative on the weights, 3e-7 on the summed potentials), so relative 1e-5 holds with a wide
    margin; elements that are small beside their array (a moment near 0, a weight crossing 0) are held to
    1e-5 of the array's largest element, the scale of their roundings. A mistake of the rules moves the
    arrays by 1e-3 or more (checked with deliberate mistakes below)."""
    return {"rtol": 1e-5, "atol": 1e-5 * float(np.max(np.abs(expected)))}


TOLERANCES = {"float64": float64_tolerance, "float32": float32_tolerance}
# closest a potential may come to the threshold or the gate's edges (mV), far beyond the precision's roundings
MARGINS = {"float64": 1e-9, "float32": 1e-5}


def train_and_compare(spec, n_train, n_test, target, build_cache, seed, epochs=2, lr=0.05):
    """Train ``epochs`` runs with the Trainer on ``target`` and with the reference, and compare after each:
    every learned array and Adam moment, the step count, the predictions and the summed output potentials.

    Returns the spikes of each group summed over the training samples of all runs.
    """
    dtype = {"float64": np.float64, "float32": np.float32}[spec.precision]
    compiled = target != "runtime"
    tolerance = partial(TOLERANCES[spec.precision], compiled=compiled)
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    rasters = (rng.uniform(size=(n, spec.T, spec.n_inputs)) < 0.45).astype(float)
    labels = rng.integers(0, spec.sizes[-1], n)
    spec = replace(spec, n_rows=n, n_slots=n, propagation="generic" if target == "runtime" else target)
    # the same starting point on both sides: rounded to the program's precision
    feedback = {k: b.astype(dtype).astype(float) for k, b in feedback_matrices(spec, rng).items()}
    state = initial_state(spec, rng)
    for key in state:
        if key.endswith(".w"):  # weights large enough that every layer spikes
            state[key] = rng.uniform(*((-0.1, 0.5) if key.startswith("conv") else (-0.2, 0.9)), state[key].size)
    state = {key: value.astype(dtype).astype(float) for key, value in state.items()}
    device = "runtime" if target == "runtime" else "cpp_standalone"
    trainer = KeepingTrainer(spec, pack_frames(rasters), labels, feedback, device=device, cache_dir=build_cache)
    reference = Reference(spec, state, feedback, dtype)
    mistakes = [Reference(spec, state, feedback, dtype, **{k: True}) for k in ("partial_over_batch", "restart_steps")]
    test_rows = np.arange(n_train, n)
    spikes = {}
    for epoch in range(epochs):
        train_rows = rng.permutation(n_train) if epoch else np.arange(n_train)
        result, state = trainer.run(state, train_rows, test_rows, lr, epoch)
        predictions, vsums, counts = reference.run(rasters, train_rows, test_rows, labels, lr)
        for mistaken in mistakes:
            mistaken.run(rasters, train_rows, test_rows, labels, lr)
        assert state["optimizer_steps"][0] == reference.k == (epoch + 1) * -(-n_train // spec.batch_size)
        for key, expected in reference.p.items():
            np.testing.assert_allclose(state[key], expected, **tolerance(expected), err_msg=f"{key} after run {epoch}")
        slots = sample_slots(n_train, n_test, spec.batch_size)
        got_vsums = np.asarray(trainer.net["readout"].vsum[:])[:, slots + 1].T
        np.testing.assert_allclose(got_vsums, vsums, **tolerance(vsums), err_msg=f"summed potentials in run {epoch}")
        np.testing.assert_array_equal(result.predictions, predictions, err_msg=f"predictions in run {epoch}")
        for counted in counts[:n_train]:
            for name, value in counted.items():
                spikes[name] = spikes.get(name, 0) + value
    margin = MARGINS[spec.precision]
    assert reference.margin > margin, f"a potential came within {reference.margin} mV of a threshold: another seed"
    # the comparison would notice each deliberate mistake (by far more than its tolerance)
    for mistaken in mistakes:
        far = max(np.max(np.abs(state[k] - mistaken.p[k])) for k in reference.p if k.endswith((".w", ".bias")))
        assert far > 1e-3, "a deliberate mistake changed nothing: the test cannot see it"
    return spikes


FC = NetworkSpec(
    n_inputs=5,
    sizes=(4, 3),
    n_rows=7,
    n_slots=7,
    T=T,
    signal="label",
    form="paper",
    optimizer="adam",
    batch_size=2,
    inputs="events",
    record=False,
)
# compiled: the queue-free propagation ('auto', the program of the README's runs); Brian2's own path gives the
# same arrays bit for bit (tests/test_propagation.py), so it is left out here to keep the compile count low;
# float32 compiled: the conv net below
FC_CASES = [
    ("float64", "runtime"),
    ("float32", "runtime"),
    pytest.param("float64", "auto", marks=pytest.mark.standalone),
]


@pytest.mark.parametrize("precision, target", FC_CASES)
def test_adam_over_runs_with_a_partial_minibatch_matches_reference(precision, target, build_cache):
    """Two runs of 5 training samples in minibatches of 2 (2, 2, 1: the last averaged over its one sample)
    and 2 test samples: six Adam steps, the bias correction going on from the first run's three."""
    spikes = train_and_compare(replace(FC, precision=precision), 5, 2, target, build_cache, seed=11)
    assert min(spikes.values()) > 0, f"every layer should spike in training: {spikes}"


CONV_INPUT = (1, 5, 5)  # 5x5 -> 2x2 pooling drops the last row and column of the 5x5 feature maps
CONV = NetworkSpec(
    n_inputs=int(np.prod(CONV_INPUT)),
    sizes=(4, 3),
    n_rows=4,
    n_slots=4,
    T=T,
    signal="error",
    form="code",
    optimizer="adam",
    batch_size=2,
    input_shape=CONV_INPUT,
    convs=(Conv(2, 3, 1, 1),),
    inputs="events",
    record=False,
)
POOLING_FORMS = {"avg": "code", "max": "paper", "lif": "code"}
# compiled in float32, the README's default precision (float64 compiled: the FC test above); compiled with lif
# pooling only (the graded avg/max pooling is compiled on both paths in tests/test_conv.py), to keep CI time
CONV_CASES = [(pooling, "float64", "runtime") for pooling in POOLING_FORMS] + [
    ("avg", "float32", "runtime"),
    ("lif", "float32", "runtime"),
    # a single spike of the window once reached exactly the threshold, where float32 rounding decided (fixed)
    pytest.param("lif", "float32", "auto", marks=pytest.mark.standalone),
]


@pytest.mark.parametrize("pooling, precision, target", CONV_CASES)
def test_conv_fc_net_with_adam_and_error_signal_matches_reference(pooling, precision, target, build_cache):
    """CONV_2_3_1_1_FC_4_FC_3 on 1x5x5 inputs (the MNIST setting in small: Adam, the error signal of eq. 5):
    two runs of 3 training samples in minibatches of 2 (the second partial) and 1 test sample."""
    spec = replace(CONV, pooling=pooling, form=POOLING_FORMS[pooling], precision=precision)
    spikes = train_and_compare(spec, 3, 1, target, build_cache, seed=5)
    assert min(spikes.values()) > 0, f"every layer should spike in training: {spikes}"

"""Compile once, run an epoch per call (docs/design.md, mechanisms 1-3).

One run of the program is one training epoch (learning on) followed by the
test set (learning off) in a single simulation.  In ``cpp_standalone`` the
program is built once per structure (cached on disk, :mod:`models.devices`)
and every epoch is ``device.run(run_args=...)`` with the new sample order,
optimizer schedules, weights and optimizer state; the weights are read back
after the run.  The ``runtime`` device (numpy target, for small tests) builds
the same network anew for each run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from brian2 import mV, second

from models import devices, layers, optimizers, reward, rules
from models.network import NetworkSpec, RunInputs, build_network
from models.rules import features

SPLIT_NONE, SPLIT_TRAIN, SPLIT_TEST = 0, 1, 2
REPORT_PERIOD = 1 * second  # wall time between two progress reports of the compiled program
# the compiled program's progress report: one line "progress <fraction simulated> <seconds>" on its stdout
REPORT_CODE = 'std::cout << "progress " << completed << " " << elapsed << std::endl << std::flush;'
TRACED_SAMPLES = 2  # test samples of each run whose membrane traces are recorded (Fig. 7)


def initial_state(spec: NetworkSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Learned arrays before training, PyTorch style: U(+-1/sqrt(fan_in)) for weights and biases.

    A dense layer's arrays are its synapses' ``w`` and its neurons' ``bias``; a
    convolution's are its kernel group's ``w`` (C_out x C_in x kh x kw, row-major)
    and its channel group's ``bias``. Each comes with Adam moments ``_m`` and ``_v``, but
    the layers a rule does not train (``rstdp``'s hidden layers), and the rule's own arrays
    (``rstdp``: the reward group's hit rate). A rule may shift the weights' range (STDP rules start excitatory)
    or draw a dense layer's weights itself (``rstdp``'s normalised decision weights). With
    ``spec.receptive_field`` p, the first hidden layer's weights are drawn with the bound of a patch's fan-in
    (C p^2) and kept only inside each neuron's patch (:func:`receptive_fields`).
    """
    state = {}
    rule = rules.get(spec.rule)
    stages = spec.stages
    for previous, stage in zip(stages, stages[1:]):
        if not stage.trained:
            continue
        if stage.kind == "conv":
            shape = layers.kernel_shape(stage.conv, previous.shape[0])
            bound = 1.0 / np.sqrt(np.prod(shape[1:]))
            weight_key, bias_key = f"{stage.name}_kernel.w", f"{stage.name}_channel.bias"
            state[weight_key] = rng.uniform(*rule.weight_range(bound), size=int(np.prod(shape)))
            state[bias_key] = rng.uniform(-bound, bound, size=shape[0])
        else:
            weight_key, bias_key = f"{previous.name}_{stage.name}.w", f"{stage.name}.bias"
            local = spec.receptive_field and previous.kind == "input"
            fan_in = spec.input_shape[0] * spec.receptive_field**2 if local else previous.size
            bound = 1.0 / np.sqrt(fan_in)
            state[weight_key], state[bias_key] = rule.initial_weights(rng, previous, stage, bound)
            if local:
                state[weight_key] *= receptive_fields(rng, spec.input_shape, spec.receptive_field, stage.size).ravel()
        if rule.feature_learning(spec, stage):  # label-free STDP features, with their homeostatic thresholds
            state[weight_key] = features.initial_weights(rng, previous.size, stage.size)
            state[bias_key] = np.zeros(stage.size)
            state[f"{stage.name}.theta_hom"] = np.zeros(stage.size)
        if not rule.learns(stage):
            continue  # fixed random features (R-STDP): no optimizer state
        for array in (weight_key, bias_key):
            state[f"{array}_m"] = np.zeros_like(state[array])
            state[f"{array}_v"] = np.zeros_like(state[array])
    state |= rule.initial_state(spec)
    state["optimizer_steps"] = np.zeros(1)
    return state


def receptive_fields(rng: np.random.Generator, image_shape: tuple, side: int, n_neurons: int) -> np.ndarray:
    """Random local receptive fields (Illing, Gerstner & Brea 2019): for each neuron one ``side`` x ``side``
    patch of the (C, H, W) image at a uniformly drawn position, all channels; a 0/1 mask, inputs x neurons."""
    channels, height, width = image_shape
    rows = rng.integers(0, height - side + 1, size=n_neurons)
    cols = rng.integers(0, width - side + 1, size=n_neurons)
    y, x = np.arange(height)[:, None, None], np.arange(width)[None, :, None]
    inside = (y >= rows) & (y < rows + side) & (x >= cols) & (x < cols + side)  # H x W x neurons
    return np.broadcast_to(inside, (channels, *inside.shape)).reshape(-1, n_neurons).astype(float)


def decisions(counts: np.ndarray, vsum: np.ndarray) -> np.ndarray:
    """The prediction of every rule for each sample (columns): the output with the most spikes, ties broken
    by the summed potential; -1 (no decision, counted wrong) when silent or still tied. ``rstdp``'s reward
    group takes the same decision (:func:`models.rules.rstdp.decision`)."""
    top = counts.max(axis=0)
    tied = counts == top
    leaders = tied & (vsum == np.where(tied, vsum, -np.inf).max(axis=0))
    return np.where((top > 0) & (leaders.sum(axis=0) == 1), leaders.argmax(axis=0), -1)


def feedback_matrices(spec: NetworkSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The fixed random B^l of every hidden layer, conv feature maps included (eq. 8), drawn once; with
    ``spec.active_fraction`` q, made the sparse code of :func:`sparse_feedback` from the same draw."""
    feedback = {}
    for stage in spec.stages:
        if stage.kind in ("conv", "dense"):
            feedback[stage.name] = reward.kaiming_uniform(rng, spec.n_classes, stage.size)
            if spec.active_fraction:
                feedback[stage.name] = sparse_feedback(
                    feedback[stage.name], spec.active_fraction, spec.form, spec.active_rate
                )
    return feedback


def sparse_feedback(B: np.ndarray, q: float, form: str, rate: float = 0.0) -> np.ndarray:
    """B^l of the label signal made a sparse code from the same U(-b, b) draw: per class, the neurons of its lowest
    fraction q are driven to fire, the others not.

    In the authors' code form (B TP is the hidden error, eq. 8) those entries become -b, whose descent raises the
    neuron's rate, and the others b q / (1 - q), so that each neuron's drive is zero on average over the classes.
    In the paper's form (B TP is the target rate of ``h - B TP``) they become the target ``rate`` (spikes per step)
    and the others ``rate - 1``, one spike per step below it; with ``rate`` 0, the targets 1 and -q / (1 - q),
    zero on average per neuron.
    """
    bound = reward.kaiming_bound(B.shape[1])
    active = B < -bound * (1 - 2 * q)
    if form == "paper":
        return np.where(active, rate, rate - 1.0) if rate else np.where(active, 1.0, -q / (1 - q))
    return np.where(active, -bound, bound * q / (1 - q))


def run_seed(seed: int, epoch: int) -> int:
    """The seed of run ``epoch``'s random numbers (the encoder's U(0, 1) of eq. 3).

    Distinct for every (seed, epoch) pair, and the same on every device: the runtime device seeds numpy with
    it, and the compiled program seeds its generators with it at the start of the run (passed at run time,
    :meth:`models.devices.StandaloneBuild.seed_each_run`). Both draw from MT19937 with numpy's 53-bit
    doubles, so with one thread a run draws the same numbers on both.
    """
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be >= 0, got seed={seed}, epoch={epoch}")
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)  # < 2**31: an int32 in Brian2


def sample_slots(n_train: int, n_test: int, batch_size: int) -> np.ndarray:
    """The slot of each sample of a run: the training samples from slot 0, the test samples from the first
    minibatch boundary after them, so that the last (partial) minibatch is applied before any test sample."""
    test_start = -(-n_train // batch_size) * batch_size
    return np.concatenate([np.arange(n_train), test_start + np.arange(n_test)]).astype(int)


def plan_run(
    spec: NetworkSpec,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    labels: np.ndarray,
    lr: float,
    optimizer_steps: int,
    n_traced: int = TRACED_SAMPLES,
) -> tuple[RunInputs, int]:
    """Sample order, labels and optimizer schedules of one run; returns them and the new step count.

    The samples occupy the slots of :func:`sample_slots`; the slots between the training and
    the test samples are empty (no label, no learning, not scored).  The operations at the start
    of slot s belong to sample s-1, hence ``split_prev``.  Minibatch boundary b (slot
    b * batch_size) applies the training samples of slots [(b-1) B, b B).  The membrane traces
    are recorded in the first ``n_traced`` test samples.
    """
    rows = np.concatenate([train_rows, test_rows]).astype(int)
    if len(rows) != spec.n_slots:
        raise ValueError(f"the run has {len(rows)} samples but the program was built for {spec.n_slots}")
    n = spec.n_sample_slots
    slots = sample_slots(len(train_rows), len(test_rows), spec.batch_size)
    order = np.zeros(n)
    order[slots] = rows
    label = np.full(n, -1.0)
    label[slots] = labels[rows]
    split = np.zeros(n)
    split[slots] = np.where(np.arange(len(rows)) < len(train_rows), SPLIT_TRAIN, SPLIT_TEST)
    split_prev = np.concatenate([[SPLIT_NONE], split[:-1]])

    B = spec.batch_size
    nb = spec.n_batch_slots
    step_size, adam_eps, adam_on, grad_scale = np.zeros(nb), np.ones(nb), np.zeros(nb), np.ones(nb)
    k = optimizer_steps
    for b in range(1, nb):
        n_train = int(np.sum(split[(b - 1) * B : b * B] == SPLIT_TRAIN))
        if n_train == 0 or lr == 0:
            continue
        k += 1
        adam_on[b], grad_scale[b] = 1.0, 1.0 / n_train
        if spec.optimizer == "adam":
            correction2 = 1 - optimizers.ADAM_BETA2**k
            step_size[b] = lr * np.sqrt(correction2) / (1 - optimizers.ADAM_BETA1**k)
            adam_eps[b] = optimizers.ADAM_EPS * np.sqrt(correction2)
        else:
            step_size[b] = lr
    trace_on = np.zeros(n)
    trace_on[slots[len(train_rows) :][:n_traced]] = 1
    inputs = RunInputs(order, label, split_prev, step_size, adam_eps, adam_on, grad_scale, trace_on)
    return inputs, k


def _state_variable(net, key: str):
    """The Brian2 variable behind a state key '<object>.<variable>', e.g. 'input_hidden1.w'."""
    obj, variable = key.split(".")
    return getattr(net[obj], variable)


@dataclass
class RunResult:
    """What one run (training epoch + test pass) produced."""

    train_accuracy: float
    test_accuracy: float
    n_train: int
    n_test: int
    seconds: float
    rates: dict[str, dict[str, float]]  # split -> layer -> mean spikes per neuron per step
    neuron_rates: dict[str, dict[str, np.ndarray]]  # split -> layer -> each neuron's spikes per step over the split
    predictions: np.ndarray  # predicted class of each sample of the run, in run order
    activity: dict[str, np.ndarray]  # 'spikes', 'active': (stages, samples of the run) in forward order; {} unrecorded
    traces: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    # per traced layer: (layer, sample in the run, step in the sample, neuron, v in mV, spiked 0/1)
    features: np.ndarray | None = None  # (samples of the run, neurons): last hidden stage's counts (spec.features)


class Trainer:
    """Owns the compiled program of one structure and runs it epoch by epoch.

    ``data`` (rows x inputs, intensities in [0, 1]) and ``labels`` hold every sample a
    run may read; ``feedback`` the fixed B^l; ``device`` is 'cpp_standalone',
    'cuda_standalone' or 'runtime'; ``profile`` compiles Brian2's per-object timers in;
    ``compile=False`` only generates the program's code (to check code generation where the
    device's compiler takes long or is absent; such a trainer cannot run).
    """

    def __init__(
        self,
        spec,
        data,
        labels,
        feedback,
        device="cpp_standalone",
        seed=0,
        cache_dir=None,
        profile=False,
        compile=True,
    ):
        self.spec, self.data, self.labels, self.feedback = spec, data, labels, feedback
        self.seed, self.profile = seed, profile
        self.build_seconds = 0.0
        self._standalone = None
        if device != "runtime":
            self._standalone = devices.StandaloneBuild(f"{spec.key()}|profile={profile}", device, cache_dir)
            self._compile(compile)

    @property
    def build_directory(self):
        """Folder of the compiled program (None on the runtime device)."""
        return None if self._standalone is None else self._standalone.directory

    def _placeholder(self):
        """Run inputs of the right shapes for the build; every run passes its own through run_args."""
        n = self.spec.n_slots
        rows = np.arange(n) % self.spec.n_rows
        return plan_run(self.spec, rows[:1], rows[1:], self.labels, 0.0, 0)[0]

    def _compile(self, compile: bool = True):
        start = time.perf_counter()
        # the program is the same for every seed: each run passes its own (run_seed), so no seed is compiled in
        with self._standalone.activate(0, self.spec.precision):
            state = initial_state(self.spec, np.random.default_rng(0))
            self.net = build_network(self.spec, self.data, self._placeholder(), state, self.feedback)
            if "run_seed" in self.net["input"].variables:
                self._standalone.seed_each_run(self.net["input"].variables["run_seed"])
            self.net.run(self.spec.duration, report=REPORT_CODE, report_period=REPORT_PERIOD, profile=self.profile)
            self._standalone.build(compile)
        self.build_seconds = time.perf_counter() - start

    @property
    def last_simulation_seconds(self) -> float:
        """Seconds the compiled program spent simulating in its last run (without start-up and I/O)."""
        return float(devices.device._last_run_time)

    def profiling_summary(self):
        """(code object, seconds) of the last run, largest first (needs ``profile=True``)."""
        return devices.device.network_get_profiling_info(self.net)

    def _run_args(self, inputs: RunInputs, state: dict[str, np.ndarray], seed: int) -> dict:
        net = self.net
        args = {}
        if "run_seed" in net["input"].variables:
            args[net["input"].run_seed] = np.array(seed)
        timed_arrays = net["input"].namespace  # the namespace shared by all groups holds the TimedArrays
        schedules = ("step_size", "grad_scale") + (("adam_eps", "adam_on") if self.spec.optimizer == "adam" else ())
        traces = ("trace_on",) if self.spec.record else ()
        for name in ("order", "label", "split_prev", *traces, *schedules):  # only those the program reads
            args[timed_arrays[name]] = np.ascontiguousarray(getattr(inputs, name), dtype=float)
        for key, value in state.items():
            if key != "optimizer_steps":
                args[_state_variable(net, key)] = np.ascontiguousarray(value, dtype=float)
        return args

    def run(self, state, train_rows, test_rows, lr, epoch=0, progress=None, echo=False):
        """Train on ``train_rows`` (in that order), then test on ``test_rows``; return (result, new state).

        ``progress(fraction)`` is called with the fraction of the run simulated, about once a second; ``echo``
        shows the compiled program's own output (its progress lines) instead.
        """
        inputs, steps = plan_run(self.spec, train_rows, test_rows, self.labels, lr, int(state["optimizer_steps"][0]))
        seed = run_seed(self.seed, epoch)
        start = time.perf_counter()
        if self._standalone is None:
            net = self._runtime_run(inputs, state, seed, progress)
        else:
            net = self.net
            self._standalone.run(self._run_args(inputs, state, seed), progress, echo)
        seconds = time.perf_counter() - start
        new_state = {
            key: np.array(_state_variable(net, key)[:], dtype=float) for key in state if key != "optimizer_steps"
        }
        new_state["optimizer_steps"] = np.array([steps], dtype=float)
        slots = sample_slots(len(train_rows), len(test_rows), self.spec.batch_size)
        ends = slots + 1  # a sample is scored at the start of the next slot
        counts = np.asarray(net["readout"].cnt[:])[:, ends]  # (n_outputs, samples)
        winners = decisions(counts, np.asarray(net["readout"].vsum[:])[:, ends])
        predictions = np.where(winners >= 0, winners % self.spec.n_classes, -1)  # output neuron i votes for i mod C
        truth = self.labels[np.concatenate([train_rows, test_rows]).astype(int)]
        correct = predictions == truth
        n_train = len(train_rows)
        neuron_rates = {
            split: {
                stage.name: np.asarray(getattr(net[stage.name], f"spikes_{split}")[:]) / max(n_samples, 1) / self.spec.T
                for stage in self.spec.stages
            }
            for split, n_samples in (("train", n_train), ("test", len(test_rows)))
        }
        rates = {split: {name: float(np.mean(r)) for name, r in of.items()} for split, of in neuron_rates.items()}
        activity, traces = {}, []
        if self.spec.record:
            monitor = net["activity_monitor"]
            activity = {
                "spikes": np.asarray(monitor.spikes_total)[:, ends],
                "active": np.asarray(monitor.n_active)[:, ends],
            }
            sample_of_slot = np.full(self.spec.n_sample_slots, -1)
            sample_of_slot[slots] = np.arange(len(slots))
            traces = [self._traces(net, stage.name, sample_of_slot) for stage in self.spec.stages if stage.trained]
        features = np.asarray(net["features_monitor"].cnt).T[ends] if self.spec.features else None
        result = RunResult(
            features=features,
            activity=activity,
            traces=traces,
            train_accuracy=float(np.mean(correct[:n_train])) if n_train else float("nan"),
            test_accuracy=float(np.mean(correct[n_train:])) if len(test_rows) else float("nan"),
            n_train=n_train,
            n_test=len(test_rows),
            seconds=seconds,
            rates=rates,
            neuron_rates=neuron_rates,
            predictions=predictions,
        )
        return result, new_state

    def _traces(self, net, layer, sample_of_slot):
        """Membrane potentials (mV, as the threshold sees them) and spikes of ``layer``'s traced neurons;
        ``sample_of_slot`` maps a slot to the sample of the run it holds."""
        steps = np.round(np.asarray(net[f"{layer}_trace"].t / self.spec.dt)).astype(int)
        neurons = np.asarray(net[f"{layer}_trace"].i)
        v = np.asarray(net[f"{layer}_trace"].v / mV)
        spike_steps = np.round(np.asarray(net[f"{layer}_trace_spikes"].t / self.spec.dt)).astype(int)
        spiked = set(zip(spike_steps.tolist(), np.asarray(net[f"{layer}_trace_spikes"].i).tolist()))
        flags = np.array([(s, n) in spiked for s, n in zip(steps.tolist(), neurons.tolist())], dtype=int)
        return layer, sample_of_slot[steps // self.spec.T], steps % self.spec.T, neurons, v, flags

    def _runtime_run(self, inputs, state, seed, progress=None):
        report = None if progress is None else (lambda elapsed, completed, start, duration: progress(completed))
        with devices.runtime(seed, self.spec.precision):
            net = build_network(self.spec, self.data, inputs, state, self.feedback)
            net.run(self.spec.duration, report=report, report_period=REPORT_PERIOD)
        return net

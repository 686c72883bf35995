"""Build one named ``brian2.Network`` of BRP-SNN from a topology (Zhang et al., 2021, Fig. 1).

A whole run (a training epoch followed by the test set) is one simulation:
sample k occupies ``[k T, (k+1) T)``.  The data sit once in a 2-D TimedArray
``data`` (rows x inputs), read through the 1-D TimedArray ``order`` of the
run's sample order (eq. 3 encoder, :mod:`models.encoding`).

Per time step, layer by layer in one scheduling slot ('groups', ordered), so
that a spike reaches the next layer within the same step as in the authors'
code: membrane ODE -> this step's synaptic input and pseudo-gradient ->
threshold -> reset -> propagation to the next layer.

At each sample boundary (slot 'start' of t = kT, for sample k-1), ordered:
readout monitor -> output rates to the reward group -> reward signal TP ->
the rule's signals (:mod:`models.rules`; BRP: B * TP into every layer; R-STDP: the
decision, and dopamine to the winning output) -> local errors -> per-synapse gradient ->
minibatch update (:mod:`models.optimizers`, every batch_size samples; for a convolution: the ties sum
the gradients into the shared kernel, the optimizer updates it, the ties copy
it back, :mod:`models.layers`) -> reset of the sample state.
``python -m protocols.schedule`` prints the whole schedule and every group's final equations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from brian2 import (
    Clock,
    Equations,
    Hz,
    Network,
    Quantity,
    StateMonitor,
    TimedArray,
    ms,
)

from models import encoding, layers, optimizers, propagation, reward, rules
from models.layers import (
    ORDER_APPLY,
    ORDER_MONITOR,
    ORDER_OUTPUT_RATES,
    ORDER_RESET,
    ORDER_SIGNAL,
    ORDER_STATISTICS,
    SAMPLE_END,
    SAMPLE_END_CONDITION,
    STATISTICS_EQUATIONS,
    Stage,
    sample_operation,
)
from models.neurons import COBAParameters, LIFParameters
from models.rules import brp, features, stdp
from models.rules.base import Wiring
from models.rules.brp import FORMS
from models.topology import Conv

STATISTICS_CODE = "spikes_train += cnt * int(split_prev(t) == 1)\nspikes_test += cnt * int(split_prev(t) == 2)"


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that fixes the compiled program's structure.

    Attributes
    ----------
    n_inputs : int
        Input neurons (pixels, or features per step).
    sizes : tuple of int
        Units of each layer after the input; the last is the readout (n_classes).
    n_rows : int
        Rows of the data array (all samples the run may read).
    n_slots : int
        Samples per run (one epoch of training followed by the test set).
    T : int
        Time steps per sample.
    dt : second
        Simulation time step (1 ms in the paper).
    neuron : LIFParameters or COBAParameters
    alpha : float
        Encoder factor of eq. 3 (an input spikes if its intensity > alpha * U(0, 1)).
    signal, form, optimizer : str
        Reward signal (label, error, sign), BRP form (paper, code), optimizer (adam, sgd).
    batch_size : int
        Samples per minibatch update.
    precision : str
        'float64' or 'float32' for every state variable.
    rule : str
        A learning rule of :mod:`models.rules`: 'brp' (reward propagation), 'bp' (pseudo-BP), 'rstdp'
        (dopamine-modulated STDP), 'brp-stdp' (BRP's error gating STDP).
    input_shape : tuple of int
        (channels, height, width) or (channels, length) when ``convs`` or ``receptive_field`` are given;
        () for flat inputs.
    convs : tuple of Conv
        Spiking convolutions before the FC layers ``sizes``, each followed by pooling.
    pooling : str
        'avg' (the authors' average pooling of spikes), 'max', or 'lif' (a spiking pooling layer of
        the layers' neuron model with fixed weights, :func:`models.layers.pooling_stage`).
    record : bool
        Record the firing statistics (per-sample activity of every stage, membrane traces).
    features : bool
        Record each sample's spike counts of the last hidden stage, neuron by neuron (the features of the
        reference readouts, :mod:`analysis.readouts`).
    propagation : str
        'auto': in cpp_standalone, pathways skip Brian2's spike queue where their structure allows
        (dense rows for all-to-all, per-source synapse lists otherwise, :mod:`models.propagation`);
        'generic': Brian2's own path everywhere (bit-identical results, slower).
    inputs : str
        'rate': intensities encoded by eq. 3 (``data`` is rows x inputs); 'events': binary
        frames, one per time step, fed directly (``data`` is :func:`models.encoding.pack_frames`).
    homeostasis, target_rate : float, hertz
        Strength of the homeostatic term added to each hidden neuron's local error
        (:data:`models.rules.brp.HOMEOSTASIS_CODE`, rules with ``homeostatic``), and the rate it pulls
        the neuron towards; 0: none (the paper's rule).
    inhibition : float
        Weight (in ``w_unit``) of the lateral inhibition among the neurons of each hidden FC layer
        (:func:`models.layers.lateral_inhibition`: through the potential for eq. 2, through the inhibitory
        conductance for the COBA neuron); 0: none (the paper's network).
    winners : int
        Neurons that may spike per step in each hidden FC layer that a rule trains without labels
        (``rstdp``: competitive STDP, :mod:`models.rules.features`); 0: fixed random hidden layers.
    active_fraction : float
        With the label signal, the fraction q of each hidden layer's neurons that a class's reward drives to
        fire: B^l becomes a sparse code (:func:`models.training.sparse_feedback`), in the code form -b for a
        fraction q of the neurons per class ((B^l TP)_i < 0, whose descent raises neuron i's rate) and
        b q / (1 - q) for the others, in the paper form the target rates of ``active_rate``; 0: B^l uniform and
        zero-mean, half the neurons per class (the paper's). The compiled structure is the same.
    active_rate : float
        In the paper form with an active fraction, the target rate (spikes per step) of the driven neurons; the
        others get ``active_rate - 1``, one spike per step below it. 0: the targets 1 and -q / (1 - q), zero on
        average per neuron (the code of runs made before this setting).
    decision_neurons : int
        Output neurons per class of a rule that takes a decision among several (``rstdp``: neuron i votes
        for class i mod n_classes); 0: the rule's own number (:attr:`models.rules.base.Rule.outputs_per_class`).
    punishment : float
        A rule that takes a decision (``rstdp``): the weight p of its punishments, dopamine ``-p h`` for a wrong
        decision at running hit rate h (1: Mozafari et al.'s scaling, whose expected dopamine is zero).
    orthogonal_readout : bool
        ``rstdp``: keep each decision neuron's weight vector orthogonal to the mean spike counts of the layer
        below over the epoch's training samples so far (besides centring it), so that the drive of an average
        sample is zero whatever the dopamine's mean (:mod:`models.rules.rstdp`).
    receptive_field : int
        Side p of the square patch of the input image (all channels) that each neuron of a fixed first
        hidden FC layer sees: random local receptive fields (Illing, Gerstner & Brea 2019), drawn by
        :func:`models.training.initial_state`; 0: the whole input. The compiled structure is the same.
    """

    n_inputs: int
    sizes: tuple[int, ...]
    n_rows: int
    n_slots: int
    T: int = 20
    dt: Quantity = field(default_factory=lambda: 1 * ms)
    neuron: LIFParameters | COBAParameters = field(default_factory=LIFParameters)
    alpha: float = 1.0
    signal: str = "label"
    form: str = "code"
    optimizer: str = "adam"
    batch_size: int = 50
    precision: str = "float64"
    rule: str = "brp"
    input_shape: tuple[int, ...] = ()
    convs: tuple[Conv, ...] = ()
    pooling: str = "avg"
    inputs: str = "rate"
    record: bool = True
    features: bool = False
    propagation: str = "auto"
    homeostasis: float = 0.0
    target_rate: Quantity = field(default_factory=lambda: 10 * Hz)
    inhibition: float = 0.0
    winners: int = 0
    receptive_field: int = 0
    active_fraction: float = 0.0
    active_rate: float = 0.0
    decision_neurons: int = 0
    punishment: float = 1.0
    orthogonal_readout: bool = False

    def __post_init__(self):
        if self.propagation not in propagation.PROPAGATIONS:
            raise ValueError(f"unknown propagation {self.propagation!r}; expected one of {propagation.PROPAGATIONS}")
        rule = rules.get(self.rule)
        for option, value, allowed in (
            ("signal", self.signal, reward.SIGNALS),
            ("form", self.form, FORMS),
            ("optimizer", self.optimizer, optimizers.OPTIMIZERS),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {option} {value!r}; expected one of {allowed}")
        if self.inputs not in ("rate", "events"):
            raise ValueError(f"unknown input kind {self.inputs!r}; expected 'rate' or 'events'")
        if self.convs and not rule.convolutions:
            trainers = [name for name, other in rules.registry().items() if other.convolutions]
            raise ValueError(f"rule {self.rule!r} trains fully connected networks only; convolutions need {trainers}")
        if self.winners < 0:
            raise ValueError(f"winners must be >= 0, got {self.winners}")
        if self.winners and not any(rule.feature_learning(self, stage) for stage in self.stages):
            raise ValueError(f"rule {self.rule!r} learns no label-free feature layer here; --winners needs rstdp")
        if self.winners and self.neuron.adapts:
            raise ValueError(
                "winners and an adaptive threshold: the feature layer has its own homeostatic threshold, "
                "which its winner-take-all ranks by; choose one"
            )
        if self.winners and self.winners >= min(self.sizes[:-1]):
            raise ValueError(f"winners must be below the hidden layer size {min(self.sizes[:-1])}, got {self.winners}")
        if self.input_shape and int(np.prod(self.input_shape)) != self.n_inputs:
            raise ValueError(f"input shape {self.input_shape} does not hold {self.n_inputs} inputs")
        if self.receptive_field:
            self._check_receptive_field(rule)
        if self.decision_neurons < 0 or (self.decision_neurons and rule.outputs_per_class == 1):
            raise ValueError(
                f"decision neurons per class must be >= 0 and need a rule that decides among several "
                f"(rstdp), got {self.decision_neurons} with rule {self.rule!r}"
            )
        if not self.punishment > 0 or (self.punishment != 1 and not rule.decides):
            raise ValueError(
                f"the punishment weight must be > 0 and weighs a decision's dopamine (rstdp), got {self.punishment} "
                f"with rule {self.rule!r}"
            )
        if self.orthogonal_readout and not rule.decides:
            raise ValueError(f"the orthogonal readout applies to a rule's decision layer (rstdp), not {self.rule!r}")
        if not 0 <= self.active_fraction < 0.5:
            raise ValueError(f"the active fraction must be in [0, 0.5) (0: zero-mean B), got {self.active_fraction}")
        if self.active_fraction and (self.signal != "label" or not rule.hidden_feedback):
            raise ValueError(
                f"an active fraction shapes the label signal's B^l TP in the hidden layers; "
                f"here the signal is {self.signal!r} and rule {self.rule!r}"
            )
        if not 0 <= self.active_rate <= 1 or (self.active_rate and not (self.active_fraction and self.form == "paper")):
            raise ValueError(
                f"an active rate is the target of the driven neurons in the paper form's sparse code: it needs an "
                f"active fraction and form 'paper' and lies in [0, 1]; got {self.active_rate} with active fraction "
                f"{self.active_fraction} and form {self.form!r}"
            )

    def _check_receptive_field(self, rule):
        """Local receptive fields need images, no convolution, and a first hidden layer the rule keeps fixed."""
        if len(self.input_shape) != 3 or self.convs:
            raise ValueError(
                f"receptive fields need image inputs (channels, height, width) and no convolution, "
                f"got input shape {self.input_shape} and {len(self.convs)} convolution(s)"
            )
        if not 0 < self.receptive_field <= min(self.input_shape[1:]):
            raise ValueError(
                f"the receptive field's side must be between 1 and the image's {self.input_shape[1:]}, "
                f"got {self.receptive_field}"
            )
        first = self.stages[1]
        if first.kind != "dense" or rule.learns(first) or rule.feature_learning(self, first):
            raise ValueError(
                f"rule {self.rule!r} trains the first hidden layer here; receptive fields are fixed weights, "
                f"they need rstdp's fixed random features (no --winners)"
            )

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    @property
    def n_outputs(self) -> int:
        """Output neurons: ``decision_neurons`` or the rule's ``outputs_per_class`` per class (neuron i votes for
        class i mod n_classes)."""
        return self.n_classes * (self.decision_neurons or rules.get(self.rule).outputs_per_class)

    @property
    def stages(self) -> list[Stage]:
        """Every group in forward order (input, conv/pool pairs, FC layers, output), see :mod:`models.layers`."""
        sizes = (*self.sizes[:-1], self.n_outputs)
        return layers.plan_stages(self.input_shape or (self.n_inputs,), self.convs, sizes)

    @property
    def layer_names(self) -> list[str]:
        """The trained layers (conv and FC), in forward order."""
        return [stage.name for stage in self.stages if stage.trained]

    @property
    def sample_duration(self) -> Quantity:
        return self.T * self.dt

    @property
    def n_sample_slots(self) -> int:
        """Sample slots simulated: the run's samples, up to B - 1 empty slots that move the test samples to
        the minibatch boundary after the training samples (:func:`models.training.sample_slots`), one to close."""
        return self.n_slots + self.batch_size

    @property
    def n_batch_slots(self) -> int:
        return self.n_sample_slots // self.batch_size + 1

    @property
    def duration(self) -> Quantity:
        return self.n_sample_slots * self.sample_duration

    def key(self) -> str:
        """A string that identifies the compiled structure (for the build cache)."""
        neuron = ",".join(f"{k}={v!r}" for k, v in sorted(vars(self.neuron).items()))
        return (
            f"{self.n_inputs}|{self.sizes}|{self.n_rows}|{self.n_slots}|{self.T}|{self.dt!r}|"
            f"{self.neuron.kind}:{neuron}|{self.alpha}|{self.signal}|{self.form}|{self.optimizer}|"
            f"{self.batch_size}|{self.precision}|{self.rule}|{self.input_shape}|{self.convs}|{self.pooling}|{self.inputs}|{self.record}|{self.propagation}"
            + ("|features" if self.features else "")
            + (f"|homeostasis={self.homeostasis},{self.target_rate!r}" if self.homeostasis else "")
            + (f"|inhibition={self.inhibition!r}" if self.inhibition else "")
            + (f"|winners={self.winners}" if self.winners else "")
            + (f"|punishment={self.punishment!r}" if self.punishment != 1 else "")
            + ("|orthogonal_readout" if self.orthogonal_readout else "")
        )


@dataclass
class RunInputs:
    """Values that change from run to run (TimedArray contents); see :mod:`models.training`.

    ``split_prev[s]`` is the split of the sample that ends at the start of slot s
    (0 none, 1 train, 2 test): boundary operations at slot s belong to sample s-1.
    """

    order: np.ndarray  # (n_sample_slots,) data row of each sample slot
    label: np.ndarray  # (n_sample_slots,) class of each sample slot
    split_prev: np.ndarray  # (n_sample_slots,)
    step_size: np.ndarray  # (n_batch_slots,) optimizer step size at each minibatch boundary
    adam_eps: np.ndarray  # (n_batch_slots,)
    adam_on: np.ndarray  # (n_batch_slots,) 1 where a minibatch is applied
    grad_scale: np.ndarray  # (n_batch_slots,) 1 / samples in the minibatch
    trace_on: np.ndarray  # (n_sample_slots,) 1 in the sample slots whose membrane traces are recorded


def build_network(
    spec: NetworkSpec,
    data: np.ndarray,
    inputs: RunInputs,
    weights: dict[str, np.ndarray],
    feedback: dict[str, np.ndarray],
) -> Network:
    """Build the network; ``weights`` holds every array of :func:`models.training.initial_state`
    (learned, or fixed as ``rstdp``'s hidden layers), ``feedback`` each B^l.

    Names: groups ``input``, ``reward``, ``conv1``, ``pool1`` ..., ``hidden1`` ... ``output``,
    ``conv1_kernel`` and ``conv1_channel`` (shared kernel and biases); synapses
    ``input_conv1``, ``pool1_hidden1`` ... (into each stage), the rule's (``feedback_hidden1`` ...,
    ``feedback_output`` for BRP; ``dopamine_output``, ``output_inhibition``, ``decision_rivals``,
    ``decision_outcome`` for ``rstdp``); monitor ``readout`` (spike counts ``cnt`` and summed potentials ``vsum``);
    TimedArrays ``data``, ``order``, ``label``, ``split_prev``, ``step_size``, ``adam_eps``, ``adam_on``,
    ``grad_scale``, ``trace_on``.
    Recording (the firing statistics of :mod:`models.training`): ``activity_monitor`` (per sample
    and stage), ``<layer>_trace`` and ``<layer>_trace_spikes`` (membrane traces of traced neurons),
    ``features_monitor`` (per sample and neuron of the last hidden stage, with ``spec.features``).
    """
    rule = rules.get(spec.rule)
    namespace = _namespace(spec, rule, data, inputs)
    stages = spec.stages
    reward_group = reward.reward_group(spec.n_outputs, spec.n_classes, namespace, spec.dt, rule.reward_equations)
    sample_clock = Clock(dt=spec.sample_duration, name="sample_clock")
    batch_clock = Clock(dt=spec.batch_size * spec.sample_duration, name="batch_clock")
    wiring = Wiring(spec, namespace, reward_group, sample_clock, batch_clock, feedback, weights, stages[-1].position)
    traced = _spike_traces(spec, rule)
    group = _input_group(spec, namespace, traced[0])
    objects = [group, *_sample_end(group, "\n".join(["cnt = 0"] + [stdp.TRACE_RESET] * traced[0]), spec)]
    objects += [reward_group, _stage_operation(reward_group, reward.TP_CODE[spec.signal], ORDER_SIGNAL, spec, "signal")]
    objects += rule.network_objects(wiring)
    recorded = [group]
    for index, (pre_stage, stage) in enumerate(zip(stages, stages[1:]), start=1):
        if stage.kind == "pool":
            group, stage_objects = _pooling(spec, namespace, group, pre_stage, stage)
        else:
            group, stage_objects = _trained_layer(spec, rule, wiring, group, pre_stage, stage, traced[index])
        objects += stage_objects
        recorded.append(group)
    if spec.record:
        objects += layers.activity_recording(recorded, sample_clock, spec.sample_duration)
    if spec.features:
        objects.append(layers.features_recording(recorded[-2], spec.sample_duration))
    objects += _readout(spec, namespace, group, reward_group, sample_clock, rule.decides)
    propagation.attach(objects, spec.propagation)
    return Network(*objects, name="brp_snn")


def _namespace(spec: NetworkSpec, rule, data: np.ndarray, inputs: RunInputs) -> dict:
    """The TimedArrays of the run and the constants every group reads."""
    T, batch_dt = spec.sample_duration, spec.batch_size * spec.sample_duration
    per_sample = ("order", "label", "split_prev", "trace_on")
    per_batch = ("step_size", "adam_eps", "adam_on", "grad_scale")
    namespace = {
        "data": TimedArray(
            np.ascontiguousarray(data, dtype=float), dt=T if spec.inputs == "rate" else spec.dt, name="data"
        )
    }
    for name in per_sample + per_batch:
        namespace[name] = TimedArray(
            getattr(inputs, name).astype(float), dt=T if name in per_sample else batch_dt, name=name
        )
    namespace.update(inv_T=1.0 / spec.T, T_steps=spec.T, sample_duration=T, step_dt=spec.dt, alpha=spec.alpha)
    if spec.homeostasis:
        namespace.update(homeostasis=spec.homeostasis, target_rate=spec.target_rate)
    if rule.decides:
        namespace.update(punishment=spec.punishment)
    return namespace | spec.neuron.namespace | optimizers.NAMESPACE | rule.namespace


def _stage_operation(group, code: str, order: int, spec: NetworkSpec, name: str):
    """An operation of ``group`` at each sample's end, named ``<group>_<name>``."""
    return sample_operation(group, code, order, spec.sample_duration, f"{group.name}_{name}")


def _spike_traces(spec: NetworkSpec, rule) -> list[bool]:
    """Whether each stage keeps a spike trace: where STDP-paired synapses read it, incoming or outgoing, and
    where a label-free feature layer learns from it."""
    stages = spec.stages
    pairs = [
        stage.kind in ("dense", "output") and rule.learns(stage) and rule.synapses(stage, pre_stage, spec)[1].pairs
        for pre_stage, stage in zip(stages, stages[1:])
    ]
    pairs = [False, *pairs, False]
    feeds = [rule.feature_learning(spec, stage) for stage in stages[1:]] + [False]
    return [pairs[k] or pairs[k + 1] or feeds[k] for k in range(len(stages))]


def _input_group(spec: NetworkSpec, namespace: dict, traced: bool):
    make_input = encoding.bernoulli_input if spec.inputs == "rate" else encoding.frame_input
    group = make_input(
        spec.n_inputs,
        namespace,
        dt=spec.dt,
        events={SAMPLE_END: SAMPLE_END_CONDITION},
        model=stdp.TRACE_EQUATION if traced else "",
        on_spike=stdp.TRACE_ON_SPIKE if traced else "",
    )
    layers.schedule(group, 0)
    return group


def _pooling(spec: NetworkSpec, namespace: dict, conv_layer, conv_stage, stage):
    pool, objects, pool_reset = layers.pooling_stage(
        conv_layer, conv_stage, stage, spec.pooling, spec.neuron, namespace, spec.dt
    )
    return pool, objects + _sample_end(pool, pool_reset, spec)


def _sample_end(group, reset_code: str, spec: NetworkSpec) -> list:
    """A stage's firing statistics, then its reset, at each sample's end."""
    return [
        _stage_operation(group, STATISTICS_CODE, ORDER_STATISTICS, spec, "statistics"),
        _stage_operation(group, reset_code, ORDER_RESET, spec, "reset"),
    ]


def _trained_layer(spec: NetworkSpec, rule, wiring: Wiring, previous, pre_stage, stage, traced: bool):
    """A conv, hidden or output layer, its incoming synapses, and what its rule needs to train them
    (a layer the rule does not train keeps its initial weights)."""
    neuron, namespace, weights = spec.neuron, wiring.namespace, wiring.weights
    learns, label_free = rule.learns(stage), rule.feature_learning(spec, stage)
    output = stage.kind == "output"
    model = Equations(STATISTICS_EQUATIONS) + (rule.neuron_equations(stage) if learns else Equations(""))
    if label_free:
        model += Equations(features.NEURON_EQUATIONS)
        namespace.update(features.namespace(spec.winners, neuron))
    reset = ["cnt = 0", "gate_sum = 0", neuron.sample_reset_code]
    if output:  # the readout's tie-break
        model += Equations(reward.READOUT_EQUATION)
        reset.append(reward.POTENTIAL_RESET)
    if traced:
        model += Equations(stdp.TRACE_EQUATION)
        reset.append(stdp.TRACE_RESET)
    layer, integrate = layers.spiking_layer(
        neuron,
        stage.size,
        stage.position,
        namespace,
        spec.dt,
        stage.name,
        model,
        traces=spec.record,
        on_spike="\n".join(
            filter(None, (stdp.TRACE_ON_SPIKE if traced else "", features.HOMEOSTASIS_SPIKE if label_free else ""))
        ),
        on_integrate="\n".join(
            filter(
                None,
                (
                    reward.POTENTIAL_SUM if output else "",
                    rule.integrate_code(stage) if learns else "",
                    features.HOMEOSTASIS_STEP if label_free else "",
                ),
            )
        ),
        pseudo_gradient=learns,
        threshold=features.threshold_code(neuron) if label_free else None,
    )
    objects = [layer, integrate]
    if spec.record:
        objects += layers.trace_monitors(layer, stage.position, layers.traced_neurons(stage))
    batch_dt = spec.batch_size * spec.sample_duration
    if stage.kind == "conv":
        synapses, *copies = layers.conv_connection(previous, layer, neuron, pre_stage, stage.conv, namespace, spec.dt)
        kernel, channel, shared = layers.shared_parameters(
            synapses, copies, layer, stage, pre_stage.shape[0], namespace, batch_dt, wiring.batch_clock
        )
        objects += shared
        learned = {kernel: ("w", "w_m", "w_v"), channel: ("bias", "bias_m", "bias_v")}
    else:
        synapse_model, plasticity = rule.synapses(stage, pre_stage, spec) if learns else (None, None)
        if label_free:  # the input norm is linked into the layer before its synapses read it
            synapse_model, plasticity = Equations("w : 1"), features.plasticity()
            objects += features.objects(previous, layer, stage.position)
        synapses = layers.dense_connection(
            previous, layer, neuron, pre_stage, namespace, spec.dt, model=synapse_model, plasticity=plasticity
        )
        learned = {synapses: ("w", "w_m", "w_v"), layer: ("bias", "bias_m", "bias_v")} if learns else {}
        if not learns:
            synapses.w, layer.bias = weights[f"{synapses.name}.w"], weights[f"{stage.name}.bias"]
        if label_free:
            layer.theta_hom = weights[f"{stage.name}.theta_hom"]
    objects.append(synapses)
    if spec.inhibition and stage.kind == "dense":
        objects.append(layers.lateral_inhibition(layer, neuron, stage.position, spec.inhibition, namespace, spec.dt))
    for group, variables in learned.items():
        for variable in variables:
            setattr(group, variable, weights[f"{group.name}.{variable}"])
        apply = optimizers.apply_code(spec.optimizer, variables[0])
        objects.append(sample_operation(group, apply, ORDER_APPLY, batch_dt, f"{group.name}_apply"))
    if learns:
        objects += rule.layer_objects(wiring, stage, layer, synapses)
        order = layers.delta_order(stage.position, wiring.output_position)
        delta = rule.delta_code(stage, spec.form)
        if spec.homeostasis and stage.kind != "output":
            if not rule.homeostatic:
                raise ValueError(f"homeostasis needs a rule with a local error on the rates (brp, bp), not {rule.name}")
            delta = brp.with_homeostasis(delta, weights=stage.kind != "conv")
        objects.append(_stage_operation(layer, delta, order, spec, "delta"))
    return layer, objects + _sample_end(layer, "\n".join(filter(None, reset)), spec)


def _readout(spec: NetworkSpec, namespace: dict, output, reward_group, sample_clock, decides: bool) -> list:
    """The output rates (and, for a rule's decision, summed potentials) into the reward group, the reward
    group's reset, and the monitor ``readout`` of each sample's output counts and summed potentials."""
    return [
        reward.output_to_reward(output, reward_group, namespace, sample_clock, ORDER_OUTPUT_RATES, decides),
        _stage_operation(reward_group, "lcnt = 0", ORDER_RESET, spec, "reset"),
        StateMonitor(
            output,
            ["cnt", "vsum"],
            record=True,
            dt=spec.sample_duration,
            when="start",
            order=ORDER_MONITOR,
            name="readout",
        ),
    ]

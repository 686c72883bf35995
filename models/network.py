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
feedback B * TP into every layer (``rstdp``: the decision, and dopamine to the
winning output) -> local errors -> per-synapse gradient ->
minibatch update (every batch_size samples; for a convolution: the ties sum
the gradients into the shared kernel, the optimizer updates it, the ties copy
it back, :mod:`models.layers`) -> reset of the sample state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from brian2 import (
    Clock,
    Equations,
    Network,
    Quantity,
    StateMonitor,
    TimedArray,
    ms,
)

from models import encoding, layers, propagation, reward
from models.layers import (
    ORDER_APPLY,
    ORDER_DECISION,
    ORDER_FEEDBACK,
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
from models.reward import at_sample_end
from models.rules import bp, brp, stdp
from models.topology import Conv

RULES = ("brp", "bp", *stdp.RULES)

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
        'brp' (reward propagation, :mod:`models.rules.brp`), 'bp' (pseudo-BP, :mod:`models.rules.bp`),
        'rstdp' (dopamine-modulated STDP) or 'brp-stdp' (BRP's error gating STDP, :mod:`models.rules.stdp`).
    input_shape : tuple of int
        (channels, height, width) or (channels, length) when ``convs`` are given; () for flat inputs.
    convs : tuple of Conv
        Spiking convolutions before the FC layers ``sizes``, each followed by pooling.
    pooling : str
        'avg' (the authors' average pooling of spikes), 'max', or 'lif' (a spiking pooling layer of
        the layers' neuron model with fixed weights, :func:`models.layers.pooling_stage`).
    record : bool
        Record the firing statistics (per-sample activity of every stage, membrane traces).
    propagation : str
        'auto': in cpp_standalone, pathways skip Brian2's spike queue where their structure allows
        (dense rows for all-to-all, per-source synapse lists otherwise, :mod:`models.propagation`);
        'generic': Brian2's own path everywhere (bit-identical results, slower).
    inputs : str
        'rate': intensities encoded by eq. 3 (``data`` is rows x inputs); 'events': binary
        frames, one per time step, fed directly (``data`` is :func:`models.encoding.pack_frames`).
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
    propagation: str = "auto"

    def __post_init__(self):
        if self.propagation not in propagation.PROPAGATIONS:
            raise ValueError(f"unknown propagation {self.propagation!r}; expected one of {propagation.PROPAGATIONS}")
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; expected one of {RULES}")
        if self.inputs not in ("rate", "events"):
            raise ValueError(f"unknown input kind {self.inputs!r}; expected 'rate' or 'events'")
        if self.convs and self.rule != "brp":
            raise ValueError(f"rule {self.rule!r} trains fully connected networks only; convolutions need rule 'brp'")
        if self.input_shape and int(np.prod(self.input_shape)) != self.n_inputs:
            raise ValueError(f"input shape {self.input_shape} does not hold {self.n_inputs} inputs")

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    @property
    def stages(self) -> list[Stage]:
        """Every group in forward order (input, conv/pool pairs, FC layers, output), see :mod:`models.layers`."""
        return layers.plan_stages(self.input_shape or (self.n_inputs,), self.convs, self.sizes)

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


def stdp_trained(spec: NetworkSpec, stage) -> bool:
    """Whether the synapses into ``stage`` learn by STDP: ``brp-stdp``'s hidden layers, ``rstdp``'s readout."""
    if spec.rule not in stdp.RULES or not stage.trained:
        return False
    if stage.kind == "output":
        return spec.rule == "rstdp"  # brp-stdp keeps BRP's delta rule at the readout
    return spec.rule not in stdp.FIXED_HIDDEN


def delta_order(position: int, n_layers: int) -> int:
    """Local errors are computed from the output backwards (pseudo-BP needs the layer above first)."""
    return -90 + 2 * (n_layers - position)


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
    ``input_conv1``, ``pool1_hidden1`` ... (into each stage), ``feedback_hidden1`` ...,
    ``feedback_output`` (``rstdp``: ``dopamine_output``, ``output_inhibition``, ``decision_rivals``,
    ``decision_outcome`` instead); monitor ``readout`` (spike counts ``cnt`` and summed potentials ``vsum``);
    TimedArrays ``data``, ``order``, ``label``, ``split_prev``, ``step_size``, ``adam_eps``, ``adam_on``,
    ``grad_scale``, ``trace_on``.
    Recording (the firing statistics of :mod:`models.training`): ``activity_monitor`` (per sample
    and stage), ``<layer>_trace`` and ``<layer>_trace_spikes`` (membrane traces of traced neurons).
    """
    T = spec.sample_duration
    dt = spec.dt
    batch_dt = spec.batch_size * T
    neuron = spec.neuron
    timed = {
        "data": TimedArray(np.ascontiguousarray(data, dtype=float), dt=T if spec.inputs == "rate" else dt, name="data"),
        "order": TimedArray(inputs.order.astype(float), dt=T, name="order"),
        "label": TimedArray(inputs.label.astype(float), dt=T, name="label"),
        "split_prev": TimedArray(inputs.split_prev.astype(float), dt=T, name="split_prev"),
        "step_size": TimedArray(inputs.step_size.astype(float), dt=batch_dt, name="step_size"),
        "adam_eps": TimedArray(inputs.adam_eps.astype(float), dt=batch_dt, name="adam_eps"),
        "adam_on": TimedArray(inputs.adam_on.astype(float), dt=batch_dt, name="adam_on"),
        "grad_scale": TimedArray(inputs.grad_scale.astype(float), dt=batch_dt, name="grad_scale"),
        "trace_on": TimedArray(inputs.trace_on.astype(float), dt=T, name="trace_on"),
    }
    namespace = dict(timed, inv_T=1.0 / spec.T, T_steps=spec.T, sample_duration=T, step_dt=dt, alpha=spec.alpha)
    namespace.update(neuron.namespace)
    namespace.update(brp.NAMESPACE)
    namespace.update(stdp.NAMESPACE)
    sample_clock = Clock(dt=T, name="sample_clock")
    batch_clock = Clock(dt=batch_dt, name="batch_clock")

    objects = []
    stages = spec.stages
    # a group keeps a spike trace where STDP-trained synapses read it: its incoming or its outgoing ones
    pairing = [stdp_trained(spec, stage) for stage in stages] + [False]
    traced = [pairing[k] or pairing[k + 1] for k in range(len(stages))]
    trace_model, trace_spike = (stdp.TRACE_EQUATION, stdp.TRACE_ON_SPIKE) if traced[0] else ("", "")
    make_input = encoding.bernoulli_input if spec.inputs == "rate" else encoding.frame_input
    input_group = make_input(
        spec.n_inputs,
        namespace,
        dt=dt,
        events={SAMPLE_END: SAMPLE_END_CONDITION},
        model=trace_model,
        on_spike=trace_spike,
    )
    layers.schedule(input_group, 0)
    objects.append(input_group)
    reward_group = reward.reward_group(spec.n_classes, namespace, dt=dt)
    objects.append(reward_group)
    objects.append(sample_operation(reward_group, brp.TP_CODE[spec.signal], ORDER_SIGNAL, T, "reward_signal"))
    decides = spec.rule == "rstdp"  # a readout decision (tie-break by the summed potential) releases dopamine
    if decides:
        objects += reward.decision(reward_group, namespace, sample_clock, ORDER_DECISION)
        reward_group.hit_rate = weights["reward.hit_rate"]

    neuron_model = {"brp": brp.neuron_equations, "bp": bp.neuron_equations}.get(spec.rule)
    learning_model = neuron_model() if neuron_model else stdp.neuron_equations(spec.rule)
    last_position = stages[-1].position
    previous, previous_stage = input_group, stages[0]
    recorded = [input_group]
    for index, stage in enumerate(stages[1:], start=1):
        name = stage.name
        if stage.kind == "pool":
            pool, pooling, pool_reset = layers.pooling_stage(
                previous, previous_stage, stage, spec.pooling, neuron, namespace, dt
            )
            objects += pooling + [
                sample_operation(pool, STATISTICS_CODE, ORDER_STATISTICS, T, f"{name}_statistics"),
                sample_operation(pool, pool_reset, ORDER_RESET, T, f"{name}_reset"),
            ]
            previous, previous_stage = pool, stage
            recorded.append(pool)
            continue
        role = "output" if stage.kind == "output" else "hidden"
        fixed = spec.rule in stdp.FIXED_HIDDEN and role == "hidden"  # R-STDP: a readout on fixed random features
        sums_potential = role == "output"  # the readout's tie-break
        layer_model = Equations(STATISTICS_EQUATIONS) + (Equations("") if fixed else learning_model)
        reset_code = "cnt = 0\ngate_sum = 0\n" + neuron.sample_reset_code
        if sums_potential:
            layer_model += Equations(reward.READOUT_EQUATION)
            reset_code += "\n" + reward.POTENTIAL_RESET
        if traced[index]:
            layer_model += Equations(stdp.TRACE_EQUATION)
            reset_code += "\n" + stdp.TRACE_RESET
        layer, integrate = layers.spiking_layer(
            neuron,
            stage.size,
            stage.position,
            namespace,
            dt,
            name,
            layer_model,
            traces=spec.record,
            on_spike=stdp.TRACE_ON_SPIKE if traced[index] else "",
            on_integrate=reward.POTENTIAL_SUM if sums_potential else "",
            pseudo_gradient=not fixed,
        )
        if spec.record:
            objects += layers.trace_monitors(layer, stage.position, layers.traced_neurons(stage))
        if stage.kind == "conv":
            synapses, *copies = layers.conv_connection(
                previous, layer, neuron, previous_stage, stage.conv, namespace, dt
            )
            kernel, channel, shared = layers.shared_parameters(
                synapses, copies, layer, stage, previous_stage.shape[0], namespace, batch_dt, batch_clock
            )
            objects += shared
            learned = {kernel: ("w", "w_m", "w_v"), channel: ("bias", "bias_m", "bias_v")}
        elif fixed:
            synapses = layers.dense_connection(previous, layer, neuron, previous_stage, namespace, dt)
            synapses.w = weights[f"{synapses.name}.w"]
            layer.bias = weights[f"{name}.bias"]
            learned = {}
        else:
            backward = spec.rule == "bp" and stage.position > 1
            if pairing[index]:
                model = stdp.synapse_equations()
                plasticity = layers.Plasticity(stdp.ACCUMULATE[spec.rule], stdp.ON_PRE, stdp.ON_POST)
            else:
                model = bp.synapse_equations(backward) if spec.rule == "bp" else brp.synapse_equations()
                plasticity = layers.Plasticity()
            synapses = layers.dense_connection(
                previous,
                layer,
                neuron,
                previous_stage,
                namespace,
                dt,
                model=model,
                plasticity=plasticity,
            )
            if backward:
                at_sample_end(synapses, "bp_pre", sample_clock, delta_order(stage.position, last_position) + 1)
            learned = {synapses: ("w", "w_m", "w_v"), layer: ("bias", "bias_m", "bias_v")}
        for group, variables in learned.items():
            for variable in variables:
                setattr(group, variable, weights[f"{group.name}.{variable}"])
            parameter = variables[0]
            objects.append(
                sample_operation(
                    group, brp.apply_code(spec.optimizer, parameter), ORDER_APPLY, batch_dt, f"{group.name}_apply"
                )
            )
        if decides:
            if role == "output":
                objects += [
                    reward.dopamine_synapses(reward_group, layer, sample_clock, ORDER_FEEDBACK),
                    layers.lateral_inhibition(layer, neuron, stage.position, stdp.WTA_INHIBITION, namespace, dt),
                ]
        elif spec.rule in ("brp", "brp-stdp") or role == "output":
            objects.append(
                reward.feedback_synapses(
                    reward_group, layer, role, feedback.get(name), namespace, sample_clock, ORDER_FEEDBACK
                )
            )
        if spec.rule == "brp" or (spec.rule == "brp-stdp" and role == "output"):
            delta = brp.delta_code(role, spec.form)
        elif spec.rule == "bp":
            delta = bp.delta_code(role)
        else:
            delta = stdp.delta_code(spec.rule, spec.form)
        objects += [layer, integrate, synapses]
        if not fixed:
            objects.append(
                sample_operation(layer, delta, delta_order(stage.position, last_position), T, f"{name}_delta")
            )
        objects += [
            sample_operation(layer, STATISTICS_CODE, ORDER_STATISTICS, T, f"{name}_statistics"),
            sample_operation(layer, reset_code, ORDER_RESET, T, f"{name}_reset"),
        ]
        previous, previous_stage = layer, stage
        recorded.append(layer)
    if spec.record:
        objects += layers.activity_recording(recorded, sample_clock, T)
    objects.append(
        reward.output_to_reward(previous, reward_group, namespace, sample_clock, ORDER_OUTPUT_RATES, decides)
    )
    objects += [
        sample_operation(input_group, STATISTICS_CODE, ORDER_STATISTICS, T, "input_statistics"),
        sample_operation(
            input_group, "cnt = 0" + ("\n" + stdp.TRACE_RESET if traced[0] else ""), ORDER_RESET, T, "input_reset"
        ),
        sample_operation(reward_group, "lcnt = 0", ORDER_RESET, T, "reward_reset"),
        StateMonitor(
            previous,
            ["cnt", "vsum"],
            record=True,
            dt=T,
            when="start",
            order=ORDER_MONITOR,
            name="readout",
        ),
    ]
    propagation.attach(objects, spec.propagation)
    return Network(*objects, name="brp_snn")

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
feedback B * TP into every layer -> local errors -> per-synapse gradient ->
minibatch update (every batch_size samples) -> reset of the sample state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from brian2 import (
    Clock,
    Equations,
    Network,
    NeuronGroup,
    Quantity,
    StateMonitor,
    Synapses,
    TimedArray,
    ms,
)

from models import encoding, reward
from models.neurons import GATE_CODE, RESET, THRESHOLD, COBAParameters, LIFParameters
from models.reward import at_sample_end
from models.rules import bp, brp

RULES = {"brp": brp, "bp": bp}

# Order of the operations at a sample boundary (slot 'start').
ORDER_MONITOR = -100
ORDER_OUTPUT_RATES = -99
ORDER_SIGNAL = -98
ORDER_FEEDBACK = -97
ORDER_STATISTICS = -5
ORDER_ACCUMULATE = -4
ORDER_APPLY = -3
ORDER_RESET = -2

# Custom event of a presynaptic neuron that spiked during the sample that ends now.
SAMPLE_END = "sample_end"
SAMPLE_END_CONDITION = "cnt > 0 and (t_in_timesteps % T_steps) == 0"


STATISTICS_EQUATIONS = """
spikes_train : 1  # spikes over the run's training samples
spikes_test : 1  # spikes over the run's test samples
"""
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
        'brp' (reward propagation, :mod:`models.rules.brp`) or 'bp' (pseudo-BP, :mod:`models.rules.bp`).
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

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    @property
    def layer_names(self) -> list[str]:
        return [f"hidden{k + 1}" for k in range(len(self.sizes) - 1)] + ["output"]

    @property
    def sample_duration(self) -> Quantity:
        return self.T * self.dt

    @property
    def n_sample_slots(self) -> int:
        """Sample slots simulated: the run's samples, the last minibatch boundary, one slot to close."""
        n_batches = -(-self.n_slots // self.batch_size)
        return max(self.n_slots, n_batches * self.batch_size) + 1

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
            f"{self.batch_size}|{self.precision}|{self.rule}"
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


def delta_order(position: int, n_layers: int) -> int:
    """Local errors are computed from the output backwards (pseudo-BP needs the layer above first)."""
    return -90 + 2 * (n_layers - position)


def _schedule(group: NeuronGroup, position: int) -> None:
    """Put a group's per-step operations in slot 'groups', after the layers before it."""
    base = 10 * position
    group.state_updater.when, group.state_updater.order = "groups", base
    group.thresholder["spike"].when, group.thresholder["spike"].order = "groups", base + 3
    group.resetter["spike"].when, group.resetter["spike"].order = "groups", base + 4


def _sample_ops(group, code: str, order: int, dt, name: str):
    """An operation at sample (or minibatch) boundaries, in slot 'start' with the given order."""
    return group.run_regularly(code, dt=dt, when="start", order=order, name=name)


def spiking_layer(neuron, size: int, position: int, namespace: dict, dt, name: str, model=None):
    """A layer of ``neuron`` (eq. 2 or conductance-based) at ``position`` in the per-step schedule.

    Returns the group and its per-step operation that consumes the step's
    synaptic input and accumulates the pseudo-gradient (eq. 10).
    """
    layer = NeuronGroup(
        size,
        neuron.equations + (model if model is not None else Equations("")),
        threshold=THRESHOLD,
        reset=RESET,
        refractory=neuron.tau_ref,
        method="exact" if isinstance(neuron, LIFParameters) else "exponential_euler",
        events={SAMPLE_END: SAMPLE_END_CONDITION},
        namespace=namespace,
        dt=dt,
        name=name,
    )
    layer.v = neuron.v_reset
    _schedule(layer, position)
    _schedule_sample_end(layer)
    integrate = layer.run_regularly(
        neuron.integrate_code + "\n" + GATE_CODE, when="groups", order=10 * position + 1, name=f"{name}_integrate"
    )
    return layer, integrate


def _schedule_sample_end(group: NeuronGroup) -> None:
    """The custom event of neurons that spiked in the sample, raised at its end (before the reset)."""
    group.thresholder[SAMPLE_END].when = "start"
    group.thresholder[SAMPLE_END].order = ORDER_ACCUMULATE - 1


def dense_connection(pre, post, neuron, position: int, namespace: dict, dt, model=None) -> Synapses:
    """All-to-all synapses ``pre -> post`` (row-major: synapse k = i * len(post) + j).

    Pathway ``pre`` adds the weights of this step's spikes to ``I_post``; pathway
    ``sample_end`` visits, at a sample's end, only the synapses of inputs that
    spiked in it and accumulates their gradient ``delta_post * r_pre`` (eq. 8).
    """
    synapses = Synapses(
        pre,
        post,
        model=model if model is not None else Equations("w : 1"),
        on_pre={"pre": neuron.on_pre, SAMPLE_END: brp.ACCUMULATE_SYNAPSE} if model is not None else neuron.on_pre,
        on_event={"pre": "spike", SAMPLE_END: SAMPLE_END} if model is not None else "spike",
        namespace=namespace,
        dt=dt,
        name=f"{pre.name}_{post.name}",
    )
    synapses.connect(i=np.repeat(np.arange(len(pre)), len(post)), j=np.tile(np.arange(len(post)), len(pre)))
    synapses.pre.when, synapses.pre.order = "groups", 10 * (position - 1) + 5
    if model is not None:
        pathway = getattr(synapses, SAMPLE_END)
        pathway.when, pathway.order = "start", ORDER_ACCUMULATE
    return synapses


def build_network(
    spec: NetworkSpec,
    data: np.ndarray,
    inputs: RunInputs,
    weights: dict[str, np.ndarray],
    feedback: dict[str, np.ndarray],
) -> Network:
    """Build the network; ``weights`` holds every learned array, ``feedback`` each B^l.

    Names: groups ``input``, ``reward``, ``hidden1`` ... ``output``; synapses
    ``input_hidden1`` ... (into each layer), ``feedback_hidden1`` ...,
    ``feedback_output``; monitor ``readout``; TimedArrays ``data``, ``order``,
    ``label``, ``split_prev``, ``step_size``, ``adam_eps``, ``adam_on``, ``grad_scale``.
    """
    T = spec.sample_duration
    dt = spec.dt
    batch_dt = spec.batch_size * T
    neuron = spec.neuron
    timed = {
        "data": TimedArray(np.ascontiguousarray(data, dtype=float), dt=T, name="data"),
        "order": TimedArray(inputs.order.astype(float), dt=T, name="order"),
        "label": TimedArray(inputs.label.astype(float), dt=T, name="label"),
        "split_prev": TimedArray(inputs.split_prev.astype(float), dt=T, name="split_prev"),
        "step_size": TimedArray(inputs.step_size.astype(float), dt=batch_dt, name="step_size"),
        "adam_eps": TimedArray(inputs.adam_eps.astype(float), dt=batch_dt, name="adam_eps"),
        "adam_on": TimedArray(inputs.adam_on.astype(float), dt=batch_dt, name="adam_on"),
        "grad_scale": TimedArray(inputs.grad_scale.astype(float), dt=batch_dt, name="grad_scale"),
    }
    namespace = dict(timed, inv_T=1.0 / spec.T, T_steps=spec.T, sample_duration=T, alpha=spec.alpha)
    namespace.update(neuron.namespace)
    namespace.update(brp.NAMESPACE)
    sample_clock = Clock(dt=T, name="sample_clock")

    objects = []
    input_group = encoding.bernoulli_input(spec.n_inputs, namespace, dt=dt, events={SAMPLE_END: SAMPLE_END_CONDITION})
    _schedule(input_group, 0)
    _schedule_sample_end(input_group)
    objects.append(input_group)
    reward_group = reward.reward_group(spec.n_classes, namespace, dt=dt)
    objects.append(reward_group)
    objects.append(_sample_ops(reward_group, brp.TP_CODE[spec.signal], ORDER_SIGNAL, T, "reward_signal"))

    rule = RULES[spec.rule]
    layer_model = rule.neuron_equations() + Equations(STATISTICS_EQUATIONS)
    n_layers = len(spec.sizes)
    reset_code = "cnt = 0\ngate_sum = 0\n" + neuron.sample_reset_code
    previous = input_group
    for position, (name, size) in enumerate(zip(spec.layer_names, spec.sizes), start=1):
        role = "output" if name == "output" else "hidden"
        layer, integrate = spiking_layer(neuron, size, position, namespace, dt, name, model=layer_model)
        for variable in ("bias", "bias_m", "bias_v"):
            setattr(layer, variable, weights[f"{name}.{variable}"])
        backward = spec.rule == "bp" and position > 1
        model = bp.synapse_equations(backward) if spec.rule == "bp" else brp.synapse_equations()
        synapses = dense_connection(previous, layer, neuron, position, namespace, dt, model=model)
        for variable in ("w", "w_m", "w_v"):
            setattr(synapses, variable, weights[f"{synapses.name}.{variable}"])
        if backward:
            at_sample_end(synapses, "bp_pre", sample_clock, delta_order(position, n_layers) + 1)
        if spec.rule == "brp" or role == "output":
            objects.append(
                reward.feedback_synapses(
                    reward_group, layer, role, feedback.get(name), namespace, sample_clock, ORDER_FEEDBACK
                )
            )
        delta = brp.delta_code(role, spec.form) if spec.rule == "brp" else bp.delta_code(role)
        objects += [
            layer,
            integrate,
            synapses,
            _sample_ops(layer, delta, delta_order(position, n_layers), T, f"{name}_delta"),
            _sample_ops(layer, STATISTICS_CODE, ORDER_STATISTICS, T, f"{name}_statistics"),
            _sample_ops(synapses, brp.apply_code(spec.optimizer, "w"), ORDER_APPLY, batch_dt, f"{synapses.name}_apply"),
            _sample_ops(layer, brp.apply_code(spec.optimizer, "bias"), ORDER_APPLY, batch_dt, f"{name}_apply"),
            _sample_ops(layer, reset_code, ORDER_RESET, T, f"{name}_reset"),
        ]
        previous = layer
    objects.append(reward.output_to_reward(previous, reward_group, namespace, sample_clock, ORDER_OUTPUT_RATES))
    objects += [
        _sample_ops(input_group, STATISTICS_CODE, ORDER_STATISTICS, T, "input_statistics"),
        _sample_ops(input_group, "cnt = 0", ORDER_RESET, T, "input_reset"),
        _sample_ops(reward_group, "lcnt = 0", ORDER_RESET, T, "reward_reset"),
        StateMonitor(previous, "cnt", record=True, dt=T, when="start", order=ORDER_MONITOR, name="readout"),
    ]
    return Network(*objects, name="brp_snn")

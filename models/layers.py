"""Layers of BRP-SNN as Brian2 objects: LIF layers, dense and convolutional synapses, pooling.

Geometry (Zhang et al., 2021, Fig. 1; the authors' ``CONV_c_k_s_p`` blocks):

* a spiking convolution maps (C_in, H, W) to (C_out, H', W') with
  ``H' = (H + 2p - k) // s + 1``; its synapses are explicit (one per kernel
  element and in-range input), synapse ``(o, y, x) <- (c, y s - p + ky, x s - p + kx)``
  carries the kernel element ``(o, c, ky, kx)``. A 1-D convolution is the case
  H = 1 with a (1, k) kernel.
* every convolution is followed by 2x2 pooling of its spikes (1x2 for 1-D);
  sizes that do not divide drop the last row / column, as PyTorch's pooling.

Weight sharing (docs/design.md, mechanism 4): the kernel lives in a group with one
neuron per kernel element (``<conv>_kernel``) and the biases in one per output
channel (``<conv>_channel``). At every minibatch boundary a "tie" (Synapses from
the kernel group to the conv Synapses) sums the gradients accumulated by all
synapses of each kernel element into the kernel (eq. 8 summed over the shared
positions), the optimizer updates the kernel, and the tie copies the new value
back into every synapse; so all synapses of an element always hold the kernel's value.

Pooling emits graded events: a pooling unit's ``P`` is the mean (or max) of
its 2x2 spikes in this step, and the next layer receives ``w * P`` from each
unit with ``P > 0``. This is the authors' average pooling of spikes followed by
a linear layer, exactly, without copying the next layer's weights four times.
With ``lif`` pooling the pooling units are instead neurons of the layers' model
(eq. 2) driven through fixed synapses of weight ``2 / window`` (in ``w_unit``)
from their window: a unit fires when two of its four inputs spike in one step,
or one in each of two consecutive steps (0.5 + 0.2 * 0.5 mV > V_th), and the
next layer receives its spikes like any layer's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from brian2 import Equations, EventMonitor, NeuronGroup, StateMonitor, Synapses

from models.rules.base import Plasticity
from models.topology import Conv, TopologyError

# Per time step, slot 'groups': stage at position p runs its operations at order
# STEP * p + offset, so a spike reaches the next stage within the same step.
STEP = 10
MEMBRANE = 0  # membrane ODE
INTEGRATE = 1  # this step's synaptic input, pseudo-gradient (eq. 10)
TRACE = 2  # traced neurons: event 'trace' (the potential as the threshold sees it), then its monitor
RANK = 3  # a k-winner-take-all layer's rank of each neuron's margin over its threshold (features.py)
THRESHOLD_STEP = 4  # threshold (spike, or pooled event)
RESET_STEP = 5  # reset
TRACE_SPIKE = 6  # traced neurons that spiked in this step: event 'trace_spike', then its monitor
PROPAGATE = 8  # outgoing synapses
POOL_CLEAR = 9  # pooling units: add the step's activity to the sample's and clear it

# Order of the operations at a sample (or minibatch) boundary, slot 'start'.
ORDER_MONITOR = -100
ORDER_OUTPUT_RATES = -99
ORDER_SIGNAL = -98
ORDER_DECISION = -97  # to -94: the decision and its reward (dopamine-modulated STDP)
ORDER_FEEDBACK = -93
# -90 ... -89 + 2 (output_position - 1): each trained layer's local error (and pseudo-BP's backward sum), output first
ORDER_STATISTICS = -12
ORDER_ACTIVITY_MONITOR = -11
ORDER_SAMPLE_END_EVENT = -9
ORDER_ACCUMULATE = -8
ORDER_TIE_SUM = -7
ORDER_APPLY = -6
ORDER_TIE_COPY = -5
ORDER_NORM_SUMS = -4  # a rule's per-neuron weight sums after the update (rstdp's normalisation)
ORDER_NORMALISE = -3
ORDER_RESET = -2

# Custom event of a presynaptic neuron that was active during the sample that ends now.
SAMPLE_END = "sample_end"
SAMPLE_END_CONDITION = "cnt > 0 and (t_in_timesteps % T_steps) == 0"
POOLED = "pooled"  # custom event of a pooling unit with activity in this step
# Membrane traces (Fig. 7): neurons flagged ``traced``, in the sample slots where the TimedArray trace_on is 1.
TRACE_EVENTS = {
    "trace": "traced and trace_on(t) > 0.5",
    "trace_spike": "traced and trace_on(t) > 0.5 and lastspike == t",
}
TRACE_OFFSETS = {"trace": TRACE, "trace_spike": TRACE_SPIKE}

STATISTICS_EQUATIONS = """
spikes_train : 1  # spikes over the run's training samples
spikes_test : 1  # spikes over the run's test samples
"""
TRACED_EQUATION = "traced : boolean (constant)  # record this neuron's potential in traced samples"
ACTIVITY_EQUATIONS = """
spikes_total : 1  # spikes (pooled events for pooling units) of the whole stage in the last sample
n_active : 1  # neurons of the stage that were active in the last sample
"""
ACTIVITY_SUMS = """
spikes_total_post = {count}_pre : 1 (summed)
n_active_post = int({count}_pre > 0) : 1 (summed)
"""

POOL_EQUATIONS = """
P : 1  # pooled spikes of this step: mean (or max) over the 2x2 window
cnt : 1  # pooled activity summed over the sample (the 'spike count' the next layer's rule reads)
n_events : 1  # pooled events sent on in the sample (steps with P > 0)
"""
POOL_CODE = {"avg": "P_post += {share}", "max": "P_post = 1"}
POOLINGS = (*POOL_CODE, "lif")
# lif pooling: weight of each window synapse is LIF_POOL_GAIN / window size (w_unit). With the authors' neuron
# (threshold 0.5 w_unit, decay 0.2) a unit fires when two of its 2x2 window spike in one step, or one in each of
# two consecutive steps; one spike alone lands just below the threshold, by 1e-6 relative (at exactly the
# threshold, float32 rounding of v decided, and the compiled program and numpy decided differently).
LIF_POOL_GAIN = 2.0 * (1 - 1e-6)

KERNEL_EQUATIONS = """
w : 1  # kernel element (shared by all its synapses)
w_grad : 1  # sum over the element's synapses of their accumulated gradients
w_m : 1  # Adam first moment
w_v : 1  # Adam second moment
"""
CHANNEL_EQUATIONS = """
bias : 1  # bias of the output channel (shared by its neurons)
bias_grad : 1
bias_m : 1
bias_v : 1
"""
# A tie sums the gradients of the shared copies into the shared parameter, and copies it back
# (each copy has exactly one tie synapse, so the "sum" into it is the parameter itself).
TIE_EQUATIONS = """
{p}_grad_pre = {p}_grad_post : 1 (summed)
{p}_post = {p}_pre : 1 (summed)
"""
CONV_SYNAPSE_EQUATIONS = """
w : 1  # copy of the kernel element, refreshed at every minibatch boundary
w_grad : 1  # gradient accumulated over the minibatch
kernel_index : integer (constant)  # the kernel element this synapse carries
"""


@dataclass(frozen=True)
class Stage:
    """One group of the network in forward order.

    ``kind`` is 'input', 'conv', 'pool', 'dense' or 'output'; ``shape`` is
    (channels, height, width) for input, conv and pool stages, (units,) otherwise;
    ``position`` fixes the stage's place in the per-step schedule.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    position: int
    conv: Conv | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def trained(self) -> bool:
        return self.kind in ("conv", "dense", "output")


def conv_output_length(n: int, kernel: int, stride: int, padding: int) -> int:
    return (n + 2 * padding - kernel) // stride + 1


def kernel_shape(conv: Conv, in_channels: int) -> tuple[int, int, int, int]:
    """(C_out, C_in, kh, kw); a 1-D kernel is (C_out, C_in, 1, k)."""
    kh = conv.kernel if conv.dims == 2 else 1
    return conv.channels, in_channels, kh, conv.kernel


def _vertical(conv: Conv) -> tuple[int, int]:
    """Stride and padding along the height (none for a 1-D convolution)."""
    return (conv.stride, conv.padding) if conv.dims == 2 else (1, 0)


def conv_output_shape(in_shape, conv: Conv) -> tuple[int, int, int]:
    c_in, h, w = in_shape
    _, _, kh, kw = kernel_shape(conv, c_in)
    stride_h, pad_h = _vertical(conv)
    return (
        conv.channels,
        conv_output_length(h, kh, stride_h, pad_h),
        conv_output_length(w, kw, conv.stride, conv.padding),
    )


def pool_window(conv: Conv) -> tuple[int, int]:
    """2x2 pooling after a 2-D convolution, 1x2 after a 1-D one."""
    return (2, 2) if conv.dims == 2 else (1, 2)


def plan_stages(input_shape: tuple[int, ...], convs: tuple[Conv, ...], sizes: tuple[int, ...]) -> list[Stage]:
    """The network's stages: input, (conv, pool) per convolution, FC hidden layers, output.

    ``input_shape`` is (C, H, W) for images, (C, L) for sequences, (n,) for flat inputs.
    Raises :class:`TopologyError` when a convolution does not fit its input.
    """
    if convs and len(input_shape) == 1:
        raise TopologyError("convolutions need inputs with a shape (channels x height x width, or channels x length)")
    if len(input_shape) == 2:
        shape = (input_shape[0], 1, input_shape[1])
    else:
        shape = tuple(input_shape)
    stages = [Stage("input", "input", shape, 0)]
    position = 1
    for k, conv in enumerate(convs, start=1):
        c, h, w = shape
        if conv.dims == 2 and h == 1:
            raise TopologyError(f"{conv} is a 2-D convolution but the input is a sequence; use CONV1D_...")
        if conv.dims == 1 and h != 1:
            raise TopologyError(f"{conv} is a 1-D convolution but its input is {c}x{h}x{w}; use CONV_...")
        out_c, out_h, out_w = conv_output_shape(shape, conv)
        pool_h, pool_w = pool_window(conv)
        if out_h < pool_h or out_w < pool_w:
            raise TopologyError(
                f"{conv} (layer {k}) does not fit its {c}x{h}x{w} input: the output {out_h}x{out_w} "
                f"is smaller than the {pool_h}x{pool_w} pooling window"
            )
        stages.append(Stage(f"conv{k}", "conv", (out_c, out_h, out_w), position, conv))
        shape = (conv.channels, out_h // pool_h, out_w // pool_w)
        stages.append(Stage(f"pool{k}", "pool", shape, position + 1))
        position += 2
    for k, units in enumerate(sizes[:-1], start=1):
        stages.append(Stage(f"hidden{k}", "dense", (units,), position))
        position += 1
    stages.append(Stage("output", "output", (sizes[-1],), position))
    return stages


def stage_table(stages: list[Stage], inhibition: bool = False, output_inhibition: bool = False) -> list[dict]:
    """Per stage: neurons, synapses each of its events reaches (mean: in the next stage, and with ``inhibition``
    the other neurons of a hidden FC layer, with ``output_inhibition`` the other outputs, :func:`lateral_inhibition`),
    synapses into it from the previous stage.

    ``synapses_in`` of a conv or dense stage is also the multiply-accumulates of the
    same layer in a dense ANN for one forward pass (the paper's Table I argument).
    """
    synapses_in = [0]
    for previous, stage in zip(stages, stages[1:]):
        if stage.kind == "conv":
            synapses_in.append(len(conv_connectivity(previous.shape, stage.conv)[0]))
        elif stage.kind == "pool":
            synapses_in.append(len(pool_connectivity(previous.shape, pool_window(previous.conv))[0]))
        else:
            synapses_in.append(previous.size * stage.size)
    rows = []
    for k, stage in enumerate(stages):
        fan_out = synapses_in[k + 1] / stage.size if k + 1 < len(stages) else 0.0
        fan_out += stage.size - 1 if inhibition and stage.kind == "dense" else 0
        fan_out += stage.size - 1 if output_inhibition and stage.kind == "output" else 0
        rows.append(
            {
                "layer": stage.name,
                "kind": stage.kind,
                "n_neurons": stage.size,
                "fan_out": fan_out,
                "synapses_in": synapses_in[k],
            }
        )
    return rows


def conv_connectivity(in_shape, conv: Conv) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Presynaptic index, postsynaptic index and kernel element of every conv synapse.

    Indices are row-major: input (c, y, x) -> c H W + y W + x; output (o, y, x)
    likewise; kernel element (o, c, ky, kx) -> ((o C + c) kh + ky) kw + kx.
    Synapses from padding (out-of-range inputs) do not exist.
    """
    c_in, h, w = in_shape
    c_out, _, kh, kw = kernel_shape(conv, c_in)
    stride_h, pad_h = _vertical(conv)
    _, out_h, out_w = conv_output_shape(in_shape, conv)
    o, c, ky, kx, y, x = np.meshgrid(
        np.arange(c_out),
        np.arange(c_in),
        np.arange(kh),
        np.arange(kw),
        np.arange(out_h),
        np.arange(out_w),
        indexing="ij",
    )
    in_y = y * stride_h - pad_h + ky
    in_x = x * conv.stride - conv.padding + kx
    valid = (in_y >= 0) & (in_y < h) & (in_x >= 0) & (in_x < w)
    pre = (c * h + in_y) * w + in_x
    post = (o * out_h + y) * out_w + x
    element = ((o * c_in + c) * kh + ky) * kw + kx
    return pre[valid].astype(int), post[valid].astype(int), element[valid].astype(int)


def pool_connectivity(conv_shape, window) -> tuple[np.ndarray, np.ndarray]:
    """Conv neuron -> pooling unit of every pooling synapse (non-overlapping windows; a remainder is dropped)."""
    c, h, w = conv_shape
    wh, ww = window
    ph, pw = h // wh, w // ww
    ch, y, x = np.meshgrid(np.arange(c), np.arange(ph * wh), np.arange(pw * ww), indexing="ij")
    pre = (ch * h + y) * w + x
    post = (ch * ph + y // wh) * pw + x // ww
    return pre.ravel(), post.ravel()


def delta_order(position: int, output_position: int) -> int:
    """Order of a layer's local error at a sample's end: from the output backwards (pseudo-BP needs the
    layer above first); the odd order after it is free for the backward sum into the layer below."""
    return -90 + 2 * (output_position - position)


def schedule(group: NeuronGroup, position: int) -> None:
    """Put a group's per-step operations in slot 'groups', after the stages before it."""
    base = STEP * position
    group.state_updater.when, group.state_updater.order = "groups", base + MEMBRANE
    for event, thresholder in group.thresholder.items():
        if event != SAMPLE_END:
            thresholder.when, thresholder.order = "groups", base + TRACE_OFFSETS.get(event, THRESHOLD_STEP)
    if "spike" in group.resetter:
        group.resetter["spike"].when, group.resetter["spike"].order = "groups", base + RESET_STEP
    if SAMPLE_END in group.thresholder:
        group.thresholder[SAMPLE_END].when = "start"
        group.thresholder[SAMPLE_END].order = ORDER_SAMPLE_END_EVENT


def sample_operation(group, code: str, order: int, dt, name: str):
    """An operation at sample (or minibatch) boundaries, in slot 'start' with the given order."""
    return group.run_regularly(code, dt=dt, when="start", order=order, name=name)


def spiking_layer(
    neuron,
    size: int,
    position: int,
    namespace: dict,
    dt,
    name: str,
    model=None,
    traces=False,
    on_spike="",
    on_integrate="",
    pseudo_gradient=True,
    threshold=None,
):
    """A layer of ``neuron`` (eq. 2 or conductance-based) at ``position`` in the per-step schedule.

    Returns the group and its per-step operation that consumes the step's
    synaptic input and, with ``pseudo_gradient``, accumulates the pseudo-gradient (eq. 10). With ``traces``
    the group has the ``traced`` flag and the events of :data:`TRACE_EVENTS`; ``on_spike``
    is further code at each spike (e.g. an STDP trace), ``on_integrate`` at each step after the input;
    ``threshold`` replaces the neuron's threshold condition.
    """
    events = {SAMPLE_END: SAMPLE_END_CONDITION} | (TRACE_EVENTS if traces else {})
    equations = neuron.equations + (model if model is not None else Equations(""))
    layer = NeuronGroup(
        size,
        equations + (Equations(TRACED_EQUATION) if traces else Equations("")),
        threshold=threshold or neuron.threshold_code,
        reset="\n".join(filter(None, (neuron.reset_code, on_spike))),
        refractory=neuron.tau_ref,
        method="exact",
        events=events,
        namespace=namespace,
        dt=dt,
        name=name,
    )
    layer.v = neuron.v_reset
    schedule(layer, position)
    integrate = layer.run_regularly(
        "\n".join(
            filter(
                None,
                (neuron.integrate_code, neuron.gate_code if pseudo_gradient else "", neuron.adapted(on_integrate)),
            )
        ),
        when="groups",
        order=STEP * position + INTEGRATE,
        name=f"{name}_integrate",
    )
    return layer, integrate


def trace_monitors(layer, position: int, traced: np.ndarray) -> list:
    """Monitors of the traced neurons: potential at every traced step, and the steps they spiked.

    ``traced`` are the indices of the neurons to record.
    """
    flags = np.zeros(len(layer), dtype=bool)
    flags[traced] = True
    layer.traced = flags
    base = STEP * position
    return [
        EventMonitor(
            layer, "trace", variables=["v"], when="groups", order=base + TRACE + 1, name=f"{layer.name}_trace"
        ),
        EventMonitor(
            layer,
            "trace_spike",
            variables=[],
            when="groups",
            order=base + TRACE_SPIKE + 1,
            name=f"{layer.name}_trace_spikes",
        ),
    ]


def traced_neurons(stage: Stage, n: int = 4) -> np.ndarray:
    """Neurons whose potential is recorded: every readout neuron; the centre of the first ``n``
    feature maps of a convolution; ``n`` evenly spaced units of a dense layer."""
    if stage.kind == "output":
        return np.arange(stage.size)
    if stage.kind == "conv":
        c, h, w = stage.shape
        return np.arange(min(n, c)) * h * w + (h // 2) * w + w // 2
    return np.unique(np.linspace(0, stage.size - 1, n).astype(int))


def activity_recording(groups, sample_clock, sample_dt) -> list:
    """Per sample and stage: spikes of the whole stage and its active neurons (group ``activity``, one unit per stage).

    Summed over each stage's neurons at the sample's end (before the reset) and
    recorded by the StateMonitor ``activity_monitor`` (row k = ``groups[k]``).
    """
    activity = NeuronGroup(len(groups), Equations(ACTIVITY_EQUATIONS), dt=sample_dt, name="activity")
    objects = [activity]
    for k, group in enumerate(groups):
        count = "n_events" if "n_events" in group.variables else "cnt"
        model = ACTIVITY_SUMS.format(count=count)
        synapses = Synapses(group, activity[k : k + 1], model, name=f"{group.name}_activity")
        synapses.connect(i=np.arange(len(group)), j=np.zeros(len(group), dtype=int))
        for variable in ("spikes_total_post", "n_active_post"):
            updater = synapses.summed_updaters[variable]
            updater._clock = sample_clock
            updater.when, updater.order = "start", ORDER_STATISTICS
        objects.append(synapses)
    objects.append(
        StateMonitor(
            activity,
            ["spikes_total", "n_active"],
            record=True,
            dt=sample_dt,
            when="start",
            order=ORDER_ACTIVITY_MONITOR,
            name="activity_monitor",
        )
    )
    return objects


def features_recording(group, sample_dt) -> StateMonitor:
    """Spike counts of every neuron of ``group`` per sample (the features of the reference readouts,
    :mod:`analysis.readouts`): its ``cnt`` at the sample's end, before the reset (``features_monitor``)."""
    return StateMonitor(
        group, "cnt", record=True, dt=sample_dt, when="start", order=ORDER_ACTIVITY_MONITOR, name="features_monitor"
    )


def pooling_stage(conv_layer, conv_stage: Stage, stage: Stage, pooling: str, neuron, namespace: dict, dt):
    """The pooling units after a conv layer: (the group, its Brian2 objects, its sample-reset code).

    ``avg`` and ``max``: graded units whose ``P`` the conv -> pool synapses set in each
    step and a per-step operation clears; ``lif``: a layer of ``neuron`` with fixed
    synapses of weight :data:`LIF_POOL_GAIN` / window size from its window.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
    window = pool_window(conv_stage.conv)
    pre, post = pool_connectivity(conv_stage.shape, window)
    name = f"{conv_layer.name}_{stage.name}"
    if pooling == "lif":
        pool, integrate = spiking_layer(
            neuron,
            stage.size,
            stage.position,
            namespace,
            dt,
            stage.name,
            Equations(STATISTICS_EQUATIONS),
            pseudo_gradient=False,
        )
        weight = LIF_POOL_GAIN / (window[0] * window[1])
        synapses = fixed_synapses(
            conv_layer, pool, neuron, weight, conv_stage.position, "pooling", namespace, dt, name, i=pre, j=post
        )
        return pool, [pool, integrate, synapses], "cnt = 0\ngate_sum = 0\n" + neuron.sample_reset_code
    pool = NeuronGroup(
        stage.size,
        Equations(POOL_EQUATIONS) + Equations(STATISTICS_EQUATIONS),
        events={POOLED: "P > 0", SAMPLE_END: SAMPLE_END_CONDITION},
        namespace=namespace,
        dt=dt,
        name=stage.name,
    )
    schedule(pool, stage.position)
    synapses = Synapses(
        conv_layer,
        pool,
        on_pre=POOL_CODE[pooling].format(share=1.0 / (window[0] * window[1])),
        namespace=namespace,
        dt=dt,
        name=name,
    )
    synapses.connect(i=pre, j=post)
    synapses.pre.when, synapses.pre.order = "groups", STEP * conv_stage.position + PROPAGATE
    # after the pooled events have propagated to the next stage
    step = pool.run_regularly(
        "cnt += P\nn_events += int(P > 0)\nP = 0",
        when="groups",
        order=STEP * stage.position + POOL_CLEAR,
        name=f"{stage.name}_step",
    )
    return pool, [pool, synapses, step], "cnt = 0\nP = 0\nn_events = 0"


def _connection(pre, post, neuron, namespace, dt, model, name, plasticity=None) -> Synapses:
    """Synapses ``pre -> post`` with the forward pathway and the sample-end gradient pathway (eq. 8).

    Pathway ``pre`` adds the weights of this step's spikes (or ``w * P`` of
    pooled events) to ``I_post``; pathway ``sample_end`` visits, at a sample's
    end, only the synapses of inputs active in it and accumulates their
    gradient (``delta_post * r_pre`` for BRP); STDP rules add a ``post`` pathway.
    """
    graded = POOLED in pre.events  # avg or max pooling units (else spiking neurons)
    forward = neuron.synaptic_input("w * P_pre" if graded else "w")
    event = POOLED if graded else "spike"
    if model is None:
        return Synapses(pre, post, model="w : 1", on_pre=forward, on_event=event, namespace=namespace, dt=dt, name=name)
    plasticity = plasticity or Plasticity()
    on_pre, on_event = {"pre": "\n".join(filter(None, (forward, plasticity.on_pre)))}, {"pre": event}
    if plasticity.accumulate:  # a gradient at each sample's end (not for label-free STDP)
        on_pre[SAMPLE_END], on_event[SAMPLE_END] = plasticity.accumulate, SAMPLE_END
    return Synapses(
        pre,
        post,
        model=model,
        on_pre=on_pre,
        on_post=plasticity.on_post or None,
        on_event=on_event,
        namespace=namespace,
        dt=dt,
        name=name,
    )


def _schedule_pathways(synapses: Synapses, pre_position: int) -> None:
    synapses.pre.when, synapses.pre.order = "groups", STEP * pre_position + PROPAGATE
    if hasattr(synapses, SAMPLE_END):
        pathway = getattr(synapses, SAMPLE_END)
        pathway.when, pathway.order = "start", ORDER_ACCUMULATE
    if hasattr(synapses, "post"):  # STDP: after the postsynaptic layer's spikes of this step
        synapses.post.when, synapses.post.order = "groups", STEP * (pre_position + 1) + PROPAGATE


def dense_connection(pre, post, neuron, pre_stage: Stage, namespace: dict, dt, model=None, plasticity=None) -> Synapses:
    """All-to-all synapses ``pre -> post`` (row-major: synapse k = i * len(post) + j)."""
    name = f"{pre.name}_{post.name}"
    synapses = _connection(pre, post, neuron, namespace, dt, model, name, plasticity)
    synapses.connect(i=np.repeat(np.arange(len(pre)), len(post)), j=np.tile(np.arange(len(post)), len(pre)))
    _schedule_pathways(synapses, pre_stage.position)
    return synapses


def lateral_inhibition(layer, neuron, position: int, strength: float, namespace: dict, dt) -> Synapses:
    """Winner-take-all: every spike of ``layer`` lowers the potential of the layer's other neurons.

    Fixed synapses of weight ``-strength`` (in ``w_unit``), all-to-all without self-connections;
    a spike at step t arrives with the input of step t + 1 (the layer's own propagation slot), which
    moves the potential at once for eq. 2 and through the inhibitory conductance for the COBA neuron.
    Outputs that spike in the same step inhibit each other alike: their tie is left to the decision.
    """
    name = f"{layer.name}_inhibition"
    return fixed_synapses(
        layer, layer, neuron, -strength, position, "lateral inhibition", namespace, dt, name, condition="i != j"
    )


def fixed_synapses(pre, post, neuron, weight: float, position: int, role: str, namespace, dt, name, **connection):
    """Synapses of one fixed ``weight`` (in ``w_unit``), connected by ``connection`` (Brian2's ``connect``
    arguments) and propagating in the slot of ``pre``'s ``position``."""
    synapses = Synapses(
        pre,
        post,
        model=f"w : 1 (constant)  # {role}",
        on_pre=neuron.synaptic_input("w"),
        namespace=namespace,
        dt=dt,
        name=name,
    )
    synapses.connect(**connection)
    synapses.w = weight
    synapses.pre.when, synapses.pre.order = "groups", STEP * position + PROPAGATE
    return synapses


def conv_connection(pre, post, neuron, pre_stage: Stage, conv: Conv, namespace: dict, dt):
    """The explicit synapses of a spiking convolution ``pre -> post``, and for its tie: the kernel element and
    the synapse of every copy, in the order of :func:`conv_connectivity` (kernel-major).

    The synapses are numbered source-major (sorted by presynaptic, then postsynaptic neuron), so each
    input's synapses lie together in memory for the propagation (:mod:`models.propagation`); every
    target still receives its inputs in ascending order of source, and the tie sums the copies of an
    element in kernel-major order, as before the renumbering.
    """
    model = Equations(CONV_SYNAPSE_EQUATIONS)
    synapses = _connection(pre, post, neuron, namespace, dt, model, f"{pre.name}_{post.name}")
    i, j, element = conv_connectivity(pre_stage.shape, conv)
    order = np.lexsort((j, i))
    synapses.connect(i=i[order], j=j[order])
    synapses.kernel_index = element[order]
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    _schedule_pathways(synapses, pre_stage.position)
    return synapses, element, position


def shared_parameters(conv_synapses, copies, conv_layer, stage: Stage, in_channels: int, namespace, batch_dt, clock):
    """The kernel and channel groups of a conv layer and their ties (docs/design.md, mechanism 4).

    At each minibatch boundary: the ties sum the synapses' (and neurons') gradients
    into the kernel (and channel biases) at ``ORDER_TIE_SUM``; the optimizer runs
    on the kernel groups at ``ORDER_APPLY`` (added by the caller); the ties copy
    the new values back at ``ORDER_TIE_COPY``, and the copies' gradients are cleared.
    At t = 0 the copy initialises every synapse and neuron from the kernel groups.
    ``copies`` = (kernel element, conv synapse) of every copy, in the order the sums run. Returns (kernel group,
    channel group, Brian2 objects to add).
    """
    n_elements = int(np.prod(kernel_shape(stage.conv, in_channels)))
    kernel = NeuronGroup(
        n_elements, Equations(KERNEL_EQUATIONS), namespace=namespace, dt=clock.dt, name=f"{stage.name}_kernel"
    )
    channel = NeuronGroup(
        stage.shape[0], Equations(CHANNEL_EQUATIONS), namespace=namespace, dt=clock.dt, name=f"{stage.name}_channel"
    )
    kernel_tie = Synapses(kernel, conv_synapses, TIE_EQUATIONS.format(p="w"), name=f"{stage.name}_tie")
    element, synapse = copies
    kernel_tie.connect(i=element, j=synapse)
    channel_tie = Synapses(channel, conv_layer, TIE_EQUATIONS.format(p="bias"), name=f"{stage.name}_channel_tie")
    channel_tie.connect(i=np.repeat(np.arange(stage.shape[0]), stage.size // stage.shape[0]), j=np.arange(stage.size))
    objects = [kernel, channel, kernel_tie, channel_tie]
    for tie, target, p in ((kernel_tie, conv_synapses, "w"), (channel_tie, conv_layer, "bias")):
        for variable, order in ((f"{p}_grad_pre", ORDER_TIE_SUM), (f"{p}_post", ORDER_TIE_COPY)):
            updater = tie.summed_updaters[variable]
            updater._clock = clock
            updater.when, updater.order = "start", order
        objects.append(sample_operation(target, f"{p}_grad = 0", ORDER_TIE_COPY, batch_dt, f"{tie.name}_clear"))
    return kernel, channel, objects

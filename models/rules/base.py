"""What a learning rule supplies to :func:`models.network.build_network`.

A rule is one module of :mod:`models.rules` with a module attribute ``RULE``, an
instance of a :class:`Rule` subclass. The network builder walks the stages
(input, conv/pool pairs, FC layers, output) once and asks the rule, for each
trained layer: does it learn, what are its neuron variables and its synapse
model (:class:`Plasticity`: the sample-end gradient, STDP's pairing code), what
code computes its third factor at the sample's end, and which further objects
(feedback, dopamine, inhibition) it needs. Minibatches, optimizers, the readout
and the reward group's signal TP are common to every rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from brian2 import Equations

# The gradient of eq. 8: delta of the postsynaptic neuron times the presynaptic rate.
ACCUMULATE_SYNAPSE = "w_grad += delta_post * cnt_pre * inv_T"
LEARNING_FLAG = "learning = int(split_prev(t) == 1)"  # 1 at the end of a training sample


@dataclass(frozen=True)
class Plasticity:
    """Synaptic code of a learning rule: the gradient accumulated at a sample's end, and STDP's pairing code."""

    accumulate: str = ACCUMULATE_SYNAPSE
    on_pre: str = ""  # at a presynaptic spike (STDP)
    on_post: str = ""  # at a postsynaptic spike (STDP)

    @property
    def pairs(self) -> bool:
        """Whether the synapses pair spikes (then both sides keep a spike trace)."""
        return bool(self.on_pre or self.on_post)


@dataclass
class Wiring:
    """What a rule's extra objects connect to: the reward group and the run's fixed arrays.

    ``namespace`` is shared by every group; ``feedback`` holds each hidden layer's B^l;
    ``weights`` every array of :func:`models.training.initial_state`; ``sample_clock`` and
    ``batch_clock`` tick at sample and minibatch boundaries; ``output_position`` is the output
    layer's place in the per-step schedule.
    """

    spec: object
    namespace: dict
    reward: object
    sample_clock: object
    batch_clock: object
    feedback: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    output_position: int


class Rule:
    """A learning rule. Subclasses override what differs from BRP's defaults below.

    Every trained layer computes ``delta`` (or its rule's third factor) at the sample's end
    (:meth:`delta_code`), its synapses accumulate ``w_grad`` (:meth:`synapses`), and the
    optimizer applies ``w_grad`` and ``bias_grad`` once per minibatch.
    """

    name = ""
    summary = ""  # one line for --help
    rank = 100  # place in listings (--rule choices, protocols.compare's default order)
    outputs_per_class = 1  # output neurons per class: neuron i votes for class i mod n_classes
    convolutions = False  # whether it trains spiking convolutions (with BRP's synapses and the optimizer)
    decides = False  # whether the reward group takes the readout's decision (and needs the summed potentials)
    namespace: dict = {}
    reward_equations = ""  # further variables of the reward group
    training_defaults: dict = {}  # the command line's defaults for this rule (e.g. optimizer, lr), where measured
    homeostatic = False  # whether its hidden delta takes the homeostatic term (NetworkSpec.homeostasis)
    label_free_features = False  # whether its hidden FC layers may learn without labels (NetworkSpec.winners)
    hidden_feedback = False  # whether its hidden layers learn from B^l TP (eq. 8; NetworkSpec.active_fraction)
    output_inhibition = False  # whether each output spike inhibits the other outputs (a winner-take-all)

    def learns(self, stage) -> bool:
        """Whether the layer of ``stage`` learns (else it keeps its initial random weights)."""
        return True

    def feature_learning(self, spec, stage) -> bool:
        """Whether ``stage`` learns without labels: a hidden FC layer of a rule with ``label_free_features``
        when ``spec.winners`` is set (:mod:`models.rules.features`)."""
        return self.label_free_features and stage.kind == "dense" and spec.winners > 0

    def neuron_equations(self, stage) -> Equations:
        """Variables of a learning layer (bias, feedback, optimizer state, third factor)."""
        raise NotImplementedError

    def synapses(self, stage, pre_stage, spec) -> tuple[Equations, Plasticity]:
        """Model and plasticity of the learning synapses into ``stage`` from ``pre_stage`` (in network ``spec``)."""
        raise NotImplementedError

    def integrate_code(self, stage) -> str:
        """Code run on a learning layer at every step, after this step's input and before the threshold."""
        return ""

    def delta_code(self, stage, form: str) -> str:
        """Code run on a learning layer at each sample's end: its local error, and ``bias_grad``."""
        raise NotImplementedError

    def weight_range(self, bound: float) -> tuple[float, float]:
        """Uniform range of the initial weights of a layer with fan-in bound ``bound`` (PyTorch's default)."""
        return -bound, bound

    def initial_weights(self, rng, pre_stage, stage, bound: float) -> tuple[np.ndarray, np.ndarray]:
        """Initial weights (row-major, pre x post for a dense layer) and biases of ``stage``:
        U(:meth:`weight_range`) and U(-bound, bound), drawn in this order."""
        n_weights = pre_stage.size * stage.size
        return rng.uniform(*self.weight_range(bound), size=n_weights), rng.uniform(-bound, bound, size=stage.size)

    def initial_state(self, spec) -> dict[str, np.ndarray]:
        """Further arrays the rule carries from run to run (beyond weights, biases and Adam moments)."""
        return {}

    def network_objects(self, wiring: Wiring) -> list:
        """Objects the rule adds once (e.g. the decision of the reward group), with their initial state."""
        return []

    def layer_objects(self, wiring: Wiring, stage, layer, synapses) -> list:
        """Objects the rule adds for a trained layer ``layer`` with its incoming ``synapses``."""
        return []

"""Biologically plausible reward propagation (BRP), eqs. 4-10 of Zhang et al. (2021).

At the end of each sample (rates over the T steps of the sample):

* output layer, local delta rule against the one-hot target (MSE on rates, eq. 6):
      delta_k = (y_k - onehot_k) * f'_k
* hidden layer l (FC or convolution), local error against the reward projected by the
  fixed random matrix B^l (eqs. 8, 9), in one of two forms:
      'paper': delta_i = (h_i - (B^l TP)_i) * f'_i      (descend  h - B TP)
      'code' : delta_i = (B^l TP)_i * f'_i              (the authors' released code,
                                                         a fork of DRTP: B * TP injected
                                                         as the layer's gradient)
  where TP is the reward signal (label: eq. 4, error: eq. 5, sign: eq. 7,
  :data:`models.reward.TP_CODE`) and f'_i is the pseudo-gradient of eq. 10 averaged
  over the sample's steps.
* every synapse j -> i accumulates delta_i * r_j (r_j: presynaptic rate), every
  bias delta_i; once per minibatch the mean gradient is applied (:mod:`models.optimizers`).
"""

from __future__ import annotations

from brian2 import Equations

from models import layers, reward
from models.rules.base import LEARNING_FLAG, Plasticity, Rule

FORMS = ("paper", "code")

# Neuron variables of a trained layer.
LEARNING_NEURON_VARIABLES = """
fb : 1  # B * TP for a hidden layer, one-hot target for the output layer (summed from the reward group)
delta : 1  # local error times pseudo-gradient of the last sample (eqs. 8-10)
bias_grad : 1  # gradient of the bias accumulated over the minibatch
bias_m : 1  # Adam first moment of the bias
bias_v : 1  # Adam second moment of the bias
learning : 1  # 1 on training samples
"""

LEARNING_SYNAPSE_VARIABLES = """
w : 1  # synaptic weight (in units of the neuron model's w_unit)
w_grad : 1  # gradient accumulated over the minibatch
w_m : 1  # Adam first moment
w_v : 1  # Adam second moment
"""

# Local error of eqs. 8-9 for each layer role; ``learning`` is 1 on training samples.
DELTA_CODE = {
    "output": "delta = learning * (cnt * inv_T - fb) * gate_sum * inv_T",
    "paper": "delta = learning * (cnt * inv_T - fb) * gate_sum * inv_T",
    "code": "delta = learning * fb * gate_sum * inv_T",
}


# Homeostasis (optional): the gradient of homeostasis / 2 * (rate - target)^2 with respect to the rate, added to
# a hidden neuron's local error at every training sample. Unlike eq. 10's window it does not vanish for a neuron
# far above its threshold, so it lowers the weights of neurons that fire in every step.
BIAS_FROM_DELTA = "bias_grad += delta"
HOMEOSTATIC_TERM = "learning * homeostasis * (cnt * inv_T - target_rate * step_dt)"
HOMEOSTASIS_CODE = f"delta += {HOMEOSTATIC_TERM}"


def delta_code(role: str, form: str) -> str:
    """Code computing ``delta`` at a sample's end; ``role`` is 'output' or 'hidden'."""
    if form not in FORMS:
        raise ValueError(f"unknown BRP form {form!r}; expected one of {FORMS}")
    code = DELTA_CODE["output" if role == "output" else form]
    return f"{LEARNING_FLAG}\n{code}\n{BIAS_FROM_DELTA}"


def with_homeostasis(code: str, weights: bool = True) -> str:
    """A hidden layer's delta code with :data:`HOMEOSTASIS_CODE` added to ``delta`` before the bias takes it, so
    that weights and bias learn from it; with ``weights`` False, to the bias alone (after it took ``delta``).

    A convolution takes the term in its channel biases alone: its kernel, shared by every position of the map, would
    sum the term over the positions with one sign, and Adam turns a consistent gradient into full steps that erase
    the features (measured on MNIST: 6 points lost after 5 epochs at homeostasis 0.002, README).
    """
    head, bias = code.rsplit("\n", 1)
    if bias != BIAS_FROM_DELTA:
        raise ValueError(f"the homeostatic term goes before {BIAS_FROM_DELTA!r}, which the code does not end with")
    if weights:
        return f"{head}\n{HOMEOSTASIS_CODE}\n{bias}"
    return f"{code}\nbias_grad += {HOMEOSTATIC_TERM}"


def neuron_equations() -> Equations:
    return Equations(LEARNING_NEURON_VARIABLES)


def synapse_equations() -> Equations:
    return Equations(LEARNING_SYNAPSE_VARIABLES)


def role(stage) -> str:
    return "output" if stage.kind == "output" else "hidden"


class BRP(Rule):
    """Every layer, convolutions included, learns from its local error; hidden layers get ``B^l TP``."""

    name = "brp"
    summary = "reward propagation (eqs. 4-10)"
    rank = 0
    convolutions = True
    homeostatic = True
    hidden_feedback = True

    def neuron_equations(self, stage) -> Equations:
        return neuron_equations()

    def synapses(self, stage, pre_stage, spec):
        return synapse_equations(), Plasticity()

    def delta_code(self, stage, form: str) -> str:
        return delta_code(role(stage), form)

    def layer_objects(self, wiring, stage, layer, synapses) -> list:
        return [feedback(wiring, stage, layer)]


def feedback(wiring, stage, layer):
    """The reward group's signal into ``layer``: ``B^l TP`` into a hidden layer, the one-hot target into the output."""
    return reward.feedback_synapses(
        wiring.reward,
        layer,
        role(stage),
        wiring.feedback.get(stage.name),
        wiring.namespace,
        wiring.sample_clock,
        layers.ORDER_FEEDBACK,
    )


RULE = BRP()

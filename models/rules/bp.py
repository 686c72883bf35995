"""Pseudo-backpropagation (the paper's "pseudo-BP" baseline, Fig. 8 and Table III of Zhang et al., 2021).

The output layer learns with the same local delta rule as BRP.  Hidden layers
receive the output errors propagated backwards through the transposed forward
weights, gated by the pseudo-gradient of eq. 10 averaged over the sample:

    delta_i = (sum_k w_ik delta_k) * f'_i

The backward sum is a summed variable of the forward Synapses into their
presynaptic group (``bp_pre = w * delta_post``), run once per sample, after the
layer above has computed its ``delta`` and before this layer computes its own.
Synaptic and bias gradients and minibatches are those of BRP (:mod:`models.rules.brp`).
"""

from __future__ import annotations

from brian2 import Equations

from models import layers, reward
from models.rules import brp
from models.rules.base import LEARNING_FLAG, Plasticity

BACKWARD_SUM = "bp_pre = w * delta_post : 1 (summed)  # W @ delta of the layer above, into the layer below"
HIDDEN_VARIABLES = "bp : 1  # backward sum of the errors of the layer above"
HIDDEN_DELTA = "delta = learning * bp * gate_sum * inv_T"


def delta_code(role: str) -> str:
    """Code computing ``delta`` at a sample's end; ``role`` is 'output' or 'hidden'."""
    code = brp.DELTA_CODE["output"] if role == "output" else HIDDEN_DELTA
    return f"{LEARNING_FLAG}\n{code}\n{brp.BIAS_FROM_DELTA}"


def neuron_equations() -> Equations:
    return brp.neuron_equations() + Equations(HIDDEN_VARIABLES)


def synapse_equations(backward: bool) -> Equations:
    """Forward synapse variables, with the backward sum where the presynaptic group is a hidden layer."""
    return brp.synapse_equations() + (Equations(BACKWARD_SUM) if backward else Equations(""))


def backward(pre_stage) -> bool:
    """Whether errors flow back into ``pre_stage`` (a trained layer, not the input)."""
    return pre_stage.trained


class PseudoBP(brp.BRP):
    """BRP's output rule; hidden layers get the errors of the layer above through the forward weights."""

    name = "bp"
    summary = "pseudo-BP (the paper's baseline)"
    rank = 1
    convolutions = False
    hidden_feedback = False  # its hidden layers learn from the output's delta through its weights

    def neuron_equations(self, stage) -> Equations:
        return neuron_equations()

    def synapses(self, stage, pre_stage, spec):
        return synapse_equations(backward(pre_stage)), Plasticity()

    def delta_code(self, stage, form: str) -> str:
        return delta_code(brp.role(stage))

    def layer_objects(self, wiring, stage, layer, synapses) -> list:
        if "bp_pre" in synapses.summed_updaters:
            order = layers.delta_order(stage.position, wiring.output_position) + 1
            reward.at_sample_end(synapses, "bp_pre", wiring.sample_clock, order)
        return [brp.feedback(wiring, stage, layer)] if stage.kind == "output" else []


RULE = PseudoBP()

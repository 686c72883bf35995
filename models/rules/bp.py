"""Pseudo-backpropagation (the paper's "pseudo-BP" baseline, Fig. 8 and Table III of Zhang et al., 2021).

The output layer learns with the same local delta rule as BRP.  Hidden layers
receive the output errors propagated backwards through the transposed forward
weights, gated by the pseudo-gradient of eq. 10 averaged over the sample:

    delta_i = (sum_k w_ik delta_k) * f'_i

The backward sum is a summed variable of the forward Synapses into their
presynaptic group (``bp_pre = w * delta_post``), run once per sample, after the
layer above has computed its ``delta`` and before this layer computes its own.
Synaptic and bias gradients, minibatches and optimizers are those of BRP
(:mod:`models.rules.brp`).
"""

from __future__ import annotations

from brian2 import Equations

from models.rules import brp

BACKWARD_SUM = "bp_pre = w * delta_post : 1 (summed)  # W @ delta of the layer above, into the layer below"
HIDDEN_VARIABLES = "bp : 1  # backward sum of the errors of the layer above"
HIDDEN_DELTA = "delta = learning * bp * gate_sum * inv_T"


def delta_code(role: str) -> str:
    """Code computing ``delta`` at a sample's end; ``role`` is 'output' or 'hidden'."""
    code = brp.DELTA_CODE["output"] if role == "output" else HIDDEN_DELTA
    return f"learning = int(split_prev(t) == 1)\n{code}\nbias_grad += delta"


def neuron_equations() -> Equations:
    return brp.neuron_equations() + Equations(HIDDEN_VARIABLES)


def synapse_equations(backward: bool) -> Equations:
    """Forward synapse variables, with the backward sum where the presynaptic group is a hidden layer."""
    return brp.synapse_equations() + (Equations(BACKWARD_SUM) if backward else Equations(""))

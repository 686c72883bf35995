"""A label-free STDP feature layer: competitive learning with a per-step k-winner-take-all.

The hidden layer of the dopamine-modulated STDP rule, trained without labels as Diehl & Cook (2015) train
their excitatory layer, with two changes that a presentation of T = 20 steps needs:

- **k-winner-take-all at every step.** Of the neurons whose potential crossed the threshold, only the
  ``winners`` with the largest margin ``v - (v_th + theta_hom)`` spike; the others keep their potential
  (Diehl & Cook's inhibitory population needs tens of steps to settle). The margin's rank is a summed
  variable of all-to-all synapses within the layer, evaluated before the threshold (``RANK``).
- **A homeostatic threshold with a set point.** ``theta_hom`` rises by ``theta_step`` at each spike and
  falls by ``theta_step * winners / N`` at each step, both in training samples only, so each neuron's
  threshold settles where it wins its share of the steps (Diehl & Cook's theta rises and decays, which lets
  it grow without bound when the winners per step are fixed).

Learning, at each spike of a feature neuron during training (instar rule, Grossberg 1976): its incoming
weights move towards the input's spike traces normalised to unit length,
``w += eta (xtrace_pre / |xtrace| - w)``, so each weight vector tends to the normalised mean input pattern
of the steps it wins; ``|xtrace|`` is the norm over the inputs at this step (summed into a one-neuron group,
``<layer>_input_norm``, and copied into the layer). Weights start as U(0, 1) per neuron, scaled to norm 1.

Measured (docs/stdp-baselines.md): Diehl & Cook's label assignment on these features beats that on fixed random
ones (digits 87 against 65 %, MNIST 79 against 44 %); the R-STDP readout does not (digits 90.0 against 90.4 %,
MNIST 75 against 87 % after 3 epochs), so ``rstdp`` keeps fixed random features unless ``--winners`` is given.
"""

from __future__ import annotations

import re

import numpy as np
from brian2 import NeuronGroup, Synapses

from models import layers
from models.rules.base import Plasticity

FEATURE_RATE = 2e-4  # eta of the instar rule, per winning step
THETA_STEP = 2e-3  # rise of theta_hom per spike, in units of the threshold gap v_th - v_reset
# 1 in the steps of a training sample: split_prev at the next slot is the split of this one
LEARNING_NOW = "int(split_prev(t + sample_duration) == 1)"

NEURON_EQUATIONS = """
theta_hom : 1  # homeostatic threshold offset, in units of the threshold gap (carried from run to run)
rank : 1  # neurons of the layer with a larger margin over their threshold in this step (summed)
xnorm2 : 1  # squared norm of the input's spike traces at this step (summed)
"""
RANK_CODE = "rank_post = int(v_pre - theta_hom_pre * theta_unit > v_post - theta_hom_post * theta_unit) : 1 (summed)"
NORM_CODE = "xnorm2_post = xtrace_pre ** 2 : 1 (summed)"
NORM_COPY = "xnorm2_post = xnorm2_pre : 1 (summed)"
ON_POST = f"w += feature_rate * {LEARNING_NOW} * (xtrace_pre / sqrt(xnorm2_post + int(xnorm2_post == 0)) - w)"
HOMEOSTASIS_STEP = f"theta_hom -= theta_step * feature_winners / N * {LEARNING_NOW}"
HOMEOSTASIS_SPIKE = f"theta_hom += theta_step * {LEARNING_NOW}"


def threshold_code(neuron) -> str:
    """The neuron's threshold raised by ``theta_hom``, and open only to the step's ``winners`` best."""
    raised = re.sub(r"\bv_th\b", "(v_th + theta_hom * theta_unit)", neuron.threshold_code)
    return f"({raised}) and rank < feature_winners"


def namespace(winners: int, neuron) -> dict:
    return {
        "feature_winners": winners,
        "feature_rate": FEATURE_RATE,
        "theta_step": THETA_STEP,
        "theta_unit": neuron.v_th - neuron.v_reset,
    }


def initial_weights(rng, n_pre: int, n_post: int) -> np.ndarray:
    """U(0, 1) per neuron, scaled to norm 1 (row-major, pre x post)."""
    w = rng.uniform(0, 1, size=(n_pre, n_post))
    return (w / np.linalg.norm(w, axis=0)).ravel()


def plasticity():
    """The feature synapses' learning: the instar rule at each postsynaptic spike, no sample-end gradient."""
    return Plasticity(accumulate="", on_post=ON_POST)


def objects(inputs, layer, position: int) -> list:
    """The rank synapses within ``layer``, and the norm of the input traces summed into a one-neuron group and
    copied into every neuron of ``layer``, all before the threshold."""
    dt = layer.clock.dt
    rivals = Synapses(layer, layer, RANK_CODE, namespace=layer.namespace, dt=dt, name=f"{layer.name}_rivals")
    rivals.connect(condition="i != j")
    norm = NeuronGroup(1, "xnorm2 : 1", dt=dt, name=f"{layer.name}_input_norm")
    norm_sum = Synapses(inputs, norm, NORM_CODE, dt=dt, name=f"{layer.name}_input_norm_sum")
    norm_sum.connect()
    norm_copy = Synapses(norm, layer, NORM_COPY, dt=dt, name=f"{layer.name}_input_norm_copy")
    norm_copy.connect()
    base = layers.STEP * position
    for updater, order in (
        (norm_sum.summed_updaters["xnorm2_post"], base + layers.MEMBRANE),
        (norm_copy.summed_updaters["xnorm2_post"], base + layers.RANK),
        (rivals.summed_updaters["rank_post"], base + layers.RANK),
    ):
        updater.when, updater.order = "groups", order
    return [rivals, norm, norm_sum, norm_copy]

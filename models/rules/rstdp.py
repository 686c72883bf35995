"""Dopamine-modulated STDP (reward-modulated STDP) on a readout of label-free features.

The readout is trained by the STDP eligibility ``c`` of :mod:`models.rules.stdp`, gated by
dopamine; as the R-STDP layer of Mozafari et al. (2019, Pattern Recognition 94), it sits on
features it does not train: the hidden layers keep their initial random weights, or, with
``--winners K``, learn by competitive STDP without labels (:mod:`models.rules.features`).
As Mozafari's decision layer, the output has ``DECISION_NEURONS_PER_CLASS`` neurons per
class (neuron i votes for class i mod C), a winner-take-all: every output spike inhibits the
other outputs at the next step (``WTA_INHIBITION``). At each sample's end the reward group
takes the decision, the output neuron with the most spikes, ties broken by the highest
membrane potential summed over the sample (none while the output is silent), and releases
dopamine to the winner only: ``r = 1 - h`` when its class is the label, punishment ``r = -p h``
when it is not, where ``h`` is the running hit rate (Mozafari's scaling of reward by misses and
punishment by hits, which keeps the expected dopamine at zero for p = 1; ``--punishment p``
weighs the punishments p times more: with the orthogonal readout below, p = 2 measured better on MNIST
with 4,000 local fields, and no better at the protocols' default sizes).

The winner's weights move along its eligibility, normalised: ``w_i += lr r g c_i / |c_i|``
(gradient ``-r g c_i / |c_i|``, SGD), and every decision neuron's weight vector is then centred
and scaled back to norm ``g`` (``WEIGHT_NORM``), the weight normalisation of Diehl & Cook (2015)
that keeps one neuron from winning everything. The step size decays per epoch (``--lr-decay``).

With ``--orthogonal-readout`` the weight vectors are also kept orthogonal to the mean spike counts ``m`` of
the layer below (``spikes_train``, over the epoch's training samples so far): ``w -= (w . u) u`` with ``u``
the centred ``m`` of unit length, before the scaling. An average sample then drives every decision neuron
by zero, whatever the dopamine's mean; without it, punishments weighted more than Mozafari's (``p > 1``,
expected dopamine below zero) turn every winner away from the average input until the layer falls silent.
docs/stdp-baselines.md gives the measurements behind these choices: with Adam on the raw
eligibility and one neuron per class this rule stayed near 63 % on digits.
"""

from __future__ import annotations

import numpy as np
from brian2 import Equations, Synapses

from models import layers, reward
from models.rules import brp, stdp
from models.rules.base import LEARNING_FLAG, Rule

WTA_INHIBITION = 1.0  # weight (w_unit) of the inhibition between outputs: 1 mV, twice the threshold, for eq. 2
WEIGHT_NORM = 3.0  # norm g of each decision neuron's weight vector (w_unit)
DECISION_NEURONS_PER_CLASS = 10  # output neuron i votes for class i mod n_classes (Mozafari et al. 2019)
HIT_RATE_WINDOW = 100  # training samples over which the hit rate is averaged

DOPAMINE = """
da : 1  # dopamine: the reward if this output won the decision, else 0
c_norm2 : 1  # squared norm of the neuron's eligibility row (summed from its synapses)
w_mean : 1  # mean incoming weight (summed from its synapses)
w_norm2 : 1  # squared norm of the incoming weights (summed from its synapses)
w_dot_m : 1  # --orthogonal-readout: sum of w * m over the synapses, m the presynaptic spikes_train (summed)
m_sum : 1  # --orthogonal-readout: sum of m over the layer below (summed)
m_norm2 : 1  # --orthogonal-readout: sum of m ** 2 over the layer below (summed)
"""
NORM_SUMS = """
c_norm2_post = c ** 2 : 1 (summed)
w_mean_post = w / N_incoming : 1 (summed)
w_norm2_post = w ** 2 : 1 (summed)
"""
ORTHOGONAL_SUMS = """
w_dot_m_post = w * spikes_train_pre : 1 (summed)
m_sum_post = spikes_train_pre : 1 (summed)
m_norm2_post = spikes_train_pre ** 2 : 1 (summed)
"""
ACCUMULATE = "w_grad -= da_post * weight_norm * c / sqrt(c_norm2_post + int(c_norm2_post == 0))"
# After each update, every decision neuron's weights are centred and scaled to norm g (only after learning,
# and never a vector of equal weights: its centred norm is 0).
NORMALISE = """
centred_norm2 = w_norm2_post - N_incoming * w_mean_post ** 2
normalise = int(step_size(t) > 0 and centred_norm2 > 1e-12 * w_norm2_post)
w = normalise * (w - w_mean_post) * weight_norm / sqrt(centred_norm2 + 1 - normalise) + (1 - normalise) * w
"""
# The same, with the component along u = centred m / |centred m| removed first (none while m is uniform or zero).
NORMALISE_ORTHOGONAL = """
m_mean = m_sum_post / N_incoming
m_centred_norm2 = m_norm2_post - N_incoming * m_mean ** 2
has_mean = int(m_centred_norm2 > 1e-9 * m_norm2_post)
w_dot_u = has_mean * (w_dot_m_post - m_mean * N_incoming * w_mean_post) / sqrt(m_centred_norm2 + 1 - has_mean)
centred_norm2 = w_norm2_post - N_incoming * w_mean_post ** 2 - w_dot_u ** 2
normalise = int(step_size(t) > 0 and centred_norm2 > 1e-12 * w_norm2_post)
w = normalise * (w - w_mean_post - w_dot_u * (spikes_train_pre - m_mean) / sqrt(m_centred_norm2 + 1 - has_mean)) * weight_norm / sqrt(centred_norm2 + 1 - normalise) + (1 - normalise) * w
"""  # noqa: E501 (one statement: a temporary would round the projected weight to float32 before the scaling)
DELTA_CODE = f"{LEARNING_FLAG}\nda *= learning"  # the bias stays at its initial value (0)

# The network's decision and the dopamine it releases: variables of the reward group.
DECISION_EQUATIONS = """
vsum : 1  # summed membrane potential of this output neuron in the sample (the tie-break)
beaten : 1  # other output neurons that spiked more, or as often with a summed potential as high
winner : 1  # 1 if this output neuron won (the decision): most spikes, ties broken by the summed potential
correct : 1  # 1 if the decision's class is the label (the same in every neuron)
decided : 1  # 1 if there is a decision
hit_rate : 1  # running fraction of correct decisions over recent training samples
reward : 1  # dopamine: 1 - hit_rate for a correct decision, -punishment * hit_rate for a wrong one, 0 none
"""
# Mozafari et al. (2019) scale reward by the misses and punishment by the hits, so that the expected
# dopamine is zero whatever the accuracy (otherwise early punishments silence the network); ``punishment``
# (NetworkSpec.punishment, 1: theirs) weighs the punishments more.
REWARD_CODE = f"""
reward = decided * (correct * (1 - hit_rate) - (1 - correct) * punishment * hit_rate)
hit_rate += int(split_prev(t) == 1) * decided * (correct - hit_rate) / {HIT_RATE_WINDOW}
"""
# A rival beats this output neuron if it spiked more, or as often with a summed potential as high.
RIVAL_CODE = "beaten_post = int(y_pre > y_post or (y_pre == y_post and vsum_pre >= vsum_post)) : 1 (summed)"


def decision(reward_group, clock, first_order: int) -> list:
    """The decision and its reward at a sample's end, in orders ``first_order`` ... ``first_order + 3``."""
    rivals = Synapses(reward_group, reward_group, RIVAL_CODE, name="decision_rivals")
    rivals.connect(condition="i != j")
    reward.at_sample_end(rivals, "beaten_post", clock, first_order)
    outcome = Synapses(
        reward_group,
        reward_group,
        "correct_post = winner_pre * int(lcnt_pre > 0) : 1 (summed)\ndecided_post = winner_pre : 1 (summed)",
        name="decision_outcome",
    )
    outcome.connect()
    for variable in ("correct_post", "decided_post"):
        reward.at_sample_end(outcome, variable, clock, first_order + 2)
    dt = clock.dt
    return [
        rivals,
        reward_group.run_regularly(
            "winner = int(beaten == 0 and y > 0)", dt=dt, when="start", order=first_order + 1, name="decision_winner"
        ),
        outcome,
        reward_group.run_regularly(REWARD_CODE, dt=dt, when="start", order=first_order + 3, name="decision_reward"),
    ]


def dopamine_synapses(reward_group, output, clock, order) -> Synapses:
    """The reward to the output neuron that won (the decision maker), nothing to the others."""
    synapses = Synapses(
        reward_group, output, "da_post = reward_pre * winner_pre : 1 (summed)", name=f"dopamine_{output.name}"
    )
    synapses.connect(j="i")
    reward.at_sample_end(synapses, "da_post", clock, order)
    return synapses


class RSTDP(Rule):
    """Fixed random hidden layers; the readout learns by STDP x dopamine from the decision."""

    name = "rstdp"
    summary = "dopamine-modulated STDP on a readout of fixed random features"
    rank = 2
    outputs_per_class = DECISION_NEURONS_PER_CLASS
    decides = True
    namespace = stdp.NAMESPACE | {"weight_norm": WEIGHT_NORM}
    # measured on digits (10 epochs, 3 seeds) and MNIST; the normalised update is an SGD step per sample
    training_defaults = {"optimizer": "sgd", "batch_size": 1, "lr": 0.3, "lr_decay": 0.7}
    reward_equations = DECISION_EQUATIONS
    label_free_features = True  # with --winners K the hidden layers learn by competitive STDP, else stay fixed
    output_inhibition = True  # the decision layer's winner-take-all (WTA_INHIBITION)

    def learns(self, stage) -> bool:
        return stage.kind == "output"

    def neuron_equations(self, stage) -> Equations:
        return brp.neuron_equations() + Equations(DOPAMINE)

    def synapses(self, stage, pre_stage, spec):
        sums = NORM_SUMS + (ORTHOGONAL_SUMS if spec.orthogonal_readout else "")
        return stdp.synapse_equations() + Equations(sums), stdp.pairing(ACCUMULATE)

    def delta_code(self, stage, form: str) -> str:
        return DELTA_CODE

    def weight_range(self, bound: float) -> tuple[float, float]:
        return -bound, 1.3 * bound  # STDP learns only where the postsynaptic neuron spikes: excitatory drive

    def initial_weights(self, rng, pre_stage, stage, bound: float):
        """Decision weights N(0, 1), centred and scaled to norm g per neuron, biases 0; the hidden layers as
        :meth:`weight_range`."""
        if stage.kind != "output":
            return super().initial_weights(rng, pre_stage, stage, bound)
        w = rng.standard_normal((pre_stage.size, stage.size))
        w -= w.mean(axis=0)
        w *= WEIGHT_NORM / np.linalg.norm(w, axis=0)
        return w.ravel(), np.zeros(stage.size)

    def initial_state(self, spec) -> dict[str, np.ndarray]:
        return {"reward.hit_rate": np.zeros(spec.n_outputs)}  # the running hit rate of the decisions

    def network_objects(self, wiring) -> list:
        wiring.reward.hit_rate = wiring.weights["reward.hit_rate"]
        return decision(wiring.reward, wiring.sample_clock, layers.ORDER_DECISION)

    def layer_objects(self, wiring, stage, layer, synapses) -> list:
        neuron = wiring.spec.neuron
        reward.at_sample_end(synapses, "c_norm2_post", wiring.sample_clock, layers.ORDER_FEEDBACK)
        orthogonal = wiring.spec.orthogonal_readout
        sums = ("w_mean_post", "w_norm2_post") + (("w_dot_m_post", "m_sum_post", "m_norm2_post") if orthogonal else ())
        for variable in sums:
            reward.at_sample_end(synapses, variable, wiring.batch_clock, layers.ORDER_NORM_SUMS)
        batch_dt, normalise = wiring.batch_clock.dt, f"{synapses.name}_normalise"
        return [
            dopamine_synapses(wiring.reward, layer, wiring.sample_clock, layers.ORDER_FEEDBACK),
            layers.lateral_inhibition(layer, neuron, stage.position, WTA_INHIBITION, wiring.namespace, wiring.spec.dt),
            layers.sample_operation(
                synapses, NORMALISE_ORTHOGONAL if orthogonal else NORMALISE, layers.ORDER_NORMALISE, batch_dt, normalise
            ),
        ]


RULE = RSTDP()

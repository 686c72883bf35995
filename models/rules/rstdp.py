"""Dopamine-modulated STDP (reward-modulated STDP) on a readout of fixed random features.

The readout is trained by the STDP eligibility of :mod:`models.rules.stdp`, gated by
dopamine; the hidden layers keep their initial random weights, as the R-STDP layer of
Mozafari et al. (2019, Pattern Recognition 94) sits on features it does not train.
As Mozafari's decision layer, the output has ``DECISION_NEURONS_PER_CLASS`` neurons per
class (neuron i votes for class i mod C): with one neuron per class this rule stays near
63 % on digits, with ten it reaches 78 % (docs/stdp-baselines.md). The output is a
winner-take-all: every output spike inhibits the other outputs at the next step
(``WTA_INHIBITION``). At each sample's end the reward group takes the decision, the output
neuron with the most spikes, ties broken by the highest membrane potential summed over the
sample (none while the output is silent), and releases dopamine to the winner only:
``r = 1 - h`` when its class is the label, punishment ``r = -h`` when it is not, where
``h`` is the running hit rate (Mozafari's scaling of reward by misses and punishment by
hits, which keeps the expected dopamine at zero). ``dw = lr * r * c / T`` (gradient
``-r * c / T``). A homeostatic bias (``HOMEOSTASIS_RATE`` towards ``TARGET_RATE`` spikes
per step, as the adaptive thresholds of Diehl & Cook 2015) keeps one output from winning
everything. Global dopamine to the hidden layers as well (Izhikevich's form, in every
layer) was measured to destroy the features: 5-17% on digits against 50% with fixed ones
(10 epochs, A_MINUS = A_PLUS).
"""

from __future__ import annotations

import numpy as np
from brian2 import Equations, Synapses

from models import layers, reward
from models.rules import brp, stdp
from models.rules.base import LEARNING_FLAG, Rule

WTA_INHIBITION = 1.0  # weight (w_unit) of the inhibition between outputs: 1 mV, twice the threshold, for eq. 2
HOMEOSTASIS_RATE = 0.05  # output bias change per training sample and unit of rate error
TARGET_RATE = 0.05  # output spikes per step that the homeostasis aims at
DECISION_NEURONS_PER_CLASS = 10  # output neuron i votes for class i mod n_classes (Mozafari et al. 2019)
HIT_RATE_WINDOW = 100  # training samples over which the hit rate is averaged

DOPAMINE = "da : 1  # dopamine: the reward if this output won the decision, else 0"
ACCUMULATE = "w_grad -= da_post * c * inv_T"
# The readout's bias follows the same dopamine-gated rule, with the neuron's own rate as eligibility,
# and the homeostasis moves it towards the target rate.
DELTA_CODE = (
    f"{LEARNING_FLAG}\nda *= learning\nbias_grad -= da * cnt * inv_T\n"
    "bias += learning * homeostasis_rate * (target_rate - cnt * inv_T)"
)

# The network's decision and the dopamine it releases: variables of the reward group.
DECISION_EQUATIONS = """
vsum : 1  # summed membrane potential of this output neuron in the sample (the tie-break)
beaten : 1  # other output neurons that spiked more, or as often with a summed potential as high
winner : 1  # 1 if this output neuron won (the decision): most spikes, ties broken by the summed potential
correct : 1  # 1 if the decision's class is the label (the same in every neuron)
decided : 1  # 1 if there is a decision
hit_rate : 1  # running fraction of correct decisions over recent training samples
reward : 1  # dopamine: 1 - hit_rate for a correct decision, -hit_rate for a wrong one, 0 none
"""
# Mozafari et al. (2019) scale reward by the misses and punishment by the hits, so that the expected
# dopamine is zero whatever the accuracy (otherwise early punishments silence the network).
REWARD_CODE = f"""
reward = decided * (correct * (1 - hit_rate) - (1 - correct) * hit_rate)
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
    namespace = stdp.NAMESPACE | {"homeostasis_rate": HOMEOSTASIS_RATE, "target_rate": TARGET_RATE}
    reward_equations = DECISION_EQUATIONS

    def learns(self, stage) -> bool:
        return stage.kind == "output"

    def neuron_equations(self, stage) -> Equations:
        return brp.neuron_equations() + Equations(DOPAMINE)

    def synapses(self, stage, pre_stage):
        return stdp.synapse_equations(), stdp.pairing(ACCUMULATE)

    def delta_code(self, stage, form: str) -> str:
        return DELTA_CODE

    def weight_range(self, bound: float) -> tuple[float, float]:
        return -bound, 1.3 * bound  # STDP learns only where the postsynaptic neuron spikes: excitatory drive

    def initial_state(self, spec) -> dict[str, np.ndarray]:
        return {"reward.hit_rate": np.zeros(spec.n_outputs)}  # the running hit rate of the decisions

    def network_objects(self, wiring) -> list:
        wiring.reward.hit_rate = wiring.weights["reward.hit_rate"]
        return decision(wiring.reward, wiring.sample_clock, layers.ORDER_DECISION)

    def layer_objects(self, wiring, stage, layer, synapses) -> list:
        neuron = wiring.spec.neuron
        return [
            dopamine_synapses(wiring.reward, layer, wiring.sample_clock, layers.ORDER_FEEDBACK),
            layers.lateral_inhibition(layer, neuron, stage.position, WTA_INHIBITION, wiring.namespace, wiring.spec.dt),
        ]


RULE = RSTDP()

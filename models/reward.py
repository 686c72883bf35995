"""The reward neuron group and its fixed random feedback (eqs. 4-7, Zhang et al., 2021).

The reward group has one neuron per class; during a sample the neuron of the
target class spikes at every step (eq. 4, ``Label_spikes(t)``), so that its
count ``lcnt`` is T times the one-hot label.  At the sample's end the group
holds the output rates ``y`` (eq. 6) and computes the reward signal TP
(label, error ``y - onehot`` of eq. 5, or its sign, eq. 7).

Each hidden layer l receives ``B^l TP`` through a Synapses object from the
reward group whose weights ``b_fb`` are drawn once (seeded) and never trained;
the output layer receives the one-hot target through one-to-one synapses.

For dopamine-modulated STDP (:mod:`models.rules.stdp`) the group also takes the
network's decision at each sample's end (:func:`decision`) and releases its
reward, as dopamine, to the winning output (:func:`dopamine_synapses`).
"""

from __future__ import annotations

import numpy as np
from brian2 import Equations, NeuronGroup, Synapses

REWARD_EQUATIONS = """
lcnt : 1  # label spikes in the current sample: T x one-hot (eq. 4)
y : 1  # output rate of this class in the sample (eq. 6)
tp : 1  # reward signal TP (eqs. 4, 5, 7)
"""
# The readout of every rule: the output with the most spikes wins, ties broken by the summed potential.
READOUT_EQUATION = "vsum : 1  # membrane potential as the threshold sees it, summed over the sample (mV)"
POTENTIAL_SUM = "vsum += v / mV"
POTENTIAL_RESET = "vsum = 0"

# The network's decision and the dopamine it releases (dopamine-modulated STDP, models/rules/stdp.py).
DECISION_EQUATIONS = """
vsum : 1  # summed membrane potential of this class's output in the sample (the tie-break)
beaten : 1  # other classes whose output spiked more, or as often with a summed potential as high
winner : 1  # 1 if this class's output won (the decision): most spikes, ties broken by the summed potential
correct : 1  # 1 if the decision is the label (the same in every neuron)
decided : 1  # 1 if there is a decision
hit_rate : 1  # running fraction of correct decisions over recent training samples
reward : 1  # dopamine: 1 - hit_rate for a correct decision, -hit_rate for a wrong one, 0 none
"""
HIT_RATE_WINDOW = 100  # training samples over which the hit rate is averaged


def reward_group(n_classes: int, namespace: dict, dt) -> NeuronGroup:
    """Neuron ``i`` spikes at every step of a sample whose label (TimedArray ``label``) is ``i``."""
    return NeuronGroup(
        n_classes,
        Equations(REWARD_EQUATIONS) + Equations(DECISION_EQUATIONS),
        threshold="abs(label(t) - i) < 0.5",
        reset="lcnt += 1",
        namespace=namespace,
        dt=dt,
        name="reward",
    )


def at_sample_end(synapses: Synapses, variable: str, clock, order: int) -> None:
    """Run the summed variable ``variable`` (e.g. 'fb_post') once per sample, at the boundary, in ``order``."""
    updater = synapses.summed_updaters[variable]
    updater._clock = clock
    updater.when, updater.order = "start", order


def feedback_synapses(reward, layer, role: str, b_matrix, namespace, clock, order) -> Synapses:
    """Fixed random feedback into a hidden layer (``B^l TP``), or the one-hot target into the output."""
    n_classes, size = len(reward), len(layer)
    if role == "output":
        synapses = Synapses(
            reward,
            layer,
            model="fb_post = lcnt_pre * inv_T : 1 (summed)",
            namespace=namespace,
            name=f"feedback_{layer.name}",
        )
        synapses.connect(j="i")
    else:
        b_matrix = np.asarray(b_matrix, dtype=float)
        if b_matrix.shape != (n_classes, size):
            raise ValueError(f"B for {layer.name} has shape {b_matrix.shape}, expected {(n_classes, size)}")
        synapses = Synapses(
            reward,
            layer,
            model="b_fb : 1 (constant)  # fixed random feedback weight\nfb_post = b_fb * tp_pre : 1 (summed)",
            namespace=namespace,
            name=f"feedback_{layer.name}",
        )
        synapses.connect(i=np.repeat(np.arange(n_classes), size), j=np.tile(np.arange(size), n_classes))
        synapses.b_fb = b_matrix.ravel()
    at_sample_end(synapses, "fb_post", clock, order)
    return synapses


# Mozafari et al. (2019) scale reward by the misses and punishment by the hits, so that the expected
# dopamine is zero whatever the accuracy (otherwise early punishments silence the network).
REWARD_CODE = f"""
reward = decided * (correct * (1 - hit_rate) - (1 - correct) * hit_rate)
hit_rate += int(split_prev(t) == 1) * decided * (correct - hit_rate) / {HIT_RATE_WINDOW}
"""


# A rival beats this class if its output spiked more, or as often with a summed potential as high.
RIVAL_CODE = "beaten_post = int(y_pre > y_post or (y_pre == y_post and vsum_pre >= vsum_post)) : 1 (summed)"


def decision(reward, namespace, clock, first_order: int) -> list:
    """The decision and its reward at a sample's end, in orders ``first_order`` ... ``first_order + 3``."""
    rivals = Synapses(reward, reward, RIVAL_CODE, name="decision_rivals")
    rivals.connect(condition="i != j")
    at_sample_end(rivals, "beaten_post", clock, first_order)
    outcome = Synapses(
        reward,
        reward,
        "correct_post = winner_pre * int(lcnt_pre > 0) : 1 (summed)\ndecided_post = winner_pre : 1 (summed)",
        name="decision_outcome",
    )
    outcome.connect()
    for variable in ("correct_post", "decided_post"):
        at_sample_end(outcome, variable, clock, first_order + 2)
    dt = clock.dt
    return [
        rivals,
        reward.run_regularly(
            "winner = int(beaten == 0 and y > 0)", dt=dt, when="start", order=first_order + 1, name="decision_winner"
        ),
        outcome,
        reward.run_regularly(REWARD_CODE, dt=dt, when="start", order=first_order + 3, name="decision_reward"),
    ]


def dopamine_synapses(reward, output, clock, order) -> Synapses:
    """The reward to the output neuron that won (the decision maker), nothing to the others."""
    synapses = Synapses(
        reward, output, "da_post = reward_pre * winner_pre : 1 (summed)", name=f"dopamine_{output.name}"
    )
    synapses.connect(j="i")
    at_sample_end(synapses, "da_post", clock, order)
    return synapses


def output_to_reward(output, reward, namespace, clock, order, decision=False) -> Synapses:
    """One-to-one synapses that give the reward group the output rates y (eq. 6), and with
    ``decision`` the outputs' summed potentials (the tie-break of :func:`decision`)."""
    model = "y_post = cnt_pre * inv_T : 1 (summed)" + ("\nvsum_post = vsum_pre : 1 (summed)" if decision else "")
    synapses = Synapses(
        output,
        reward,
        model=model,
        namespace=namespace,
        name="output_reward",
    )
    synapses.connect(j="i")
    for variable in synapses.summed_updaters:
        at_sample_end(synapses, variable, clock, order)
    return synapses


def kaiming_uniform(rng: np.random.Generator, n_classes: int, size: int) -> np.ndarray:
    """B^l as in the authors' (DRTP) code: Kaiming-uniform, bound sqrt(6 / size), shape (classes, size)."""
    bound = np.sqrt(6.0 / size)
    return rng.uniform(-bound, bound, size=(n_classes, size))

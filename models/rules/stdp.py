"""The STDP eligibility shared by the spike-timing rules with a third factor (:mod:`models.rules.rstdp`,
:mod:`models.rules.brp_stdp`).

Izhikevich (2007, "Solving the distal reward problem through linkage of STDP and
dopamine signaling"): every neuron on either side keeps a spike trace ``xtrace``
(``+1`` per spike, decaying with ``tau_trace``; reset at each sample's start), and
every synapse j -> i an eligibility ``c_ij`` that integrates the STDP window over the sample:

    at a presynaptic spike:   c_ij -= A_minus * xtrace_i   (post before pre: depression)
    at a postsynaptic spike:  c_ij += A_plus  * xtrace_j   (pre before post, or in the same step: potentiation)

At the sample's end the third factor turns ``c / T`` into the synapse's gradient
(``accumulate(third_factor)``; minibatches and optimizers as for BRP), and ``c`` is cleared.
"""

from __future__ import annotations

from brian2 import Equations, ms

from models.rules import brp
from models.rules.base import Plasticity

TAU_TRACE = 5 * ms
# A window with more potentiation than depression, so that inputs that fire with the neuron (rate-coded,
# the same step included) leave a positive eligibility: on digits (10 epochs, lr 1e-3) A_MINUS = 1.0 gave
# rstdp 50% and A_MINUS = 0.5 66%, brp-stdp (error signal) 83% with 0.5.
A_PLUS = 1.0
A_MINUS = 0.5

TRACE_EQUATION = "dxtrace/dt = -xtrace / tau_trace : 1  # spike trace for STDP (Izhikevich 2007)"
TRACE_ON_SPIKE = "xtrace += 1"
TRACE_RESET = "xtrace = 0"

ELIGIBILITY = "c : 1  # STDP eligibility of the synapse, integrated over the sample"
ON_PRE = "c -= A_minus * xtrace_post"
ON_POST = "c += A_plus * xtrace_pre"

NAMESPACE = {"tau_trace": TAU_TRACE, "A_plus": A_PLUS, "A_minus": A_MINUS}


def synapse_equations() -> Equations:
    return brp.synapse_equations() + Equations(ELIGIBILITY)


def pairing(accumulate: str, on_post: str = ON_POST) -> Plasticity:
    """STDP pairing, with ``accumulate`` turning the eligibility into the gradient at the sample's end."""
    return Plasticity(f"{accumulate}\nc = 0", ON_PRE, on_post)

"""BRP-STDP: the paper's remark that BRP's local update of the hidden layers "might also be replaced
with STDP" (Zhang et al., 2021).

In every hidden layer the third factor of the STDP eligibility (:mod:`models.rules.stdp`) is
the BRP local error of each neuron, the same as in :mod:`models.rules.brp` without the
pseudo-gradient (``B TP`` in the authors' code form, ``h - B TP`` in the paper form):
``dw = -lr * e_i * c_ij / T``. The readout keeps BRP's local delta rule (it has no
spikes to pair while it is silent, and its target is local anyway).
"""

from __future__ import annotations

from brian2 import Equations

from models.rules import brp, stdp
from models.rules.base import LEARNING_FLAG

ERROR_VARIABLE = "err : 1  # BRP local error of the sample (eqs. 8, 9) without the pseudo-gradient"
ACCUMULATE = "w_grad += err_post * c * inv_T"
ERROR_CODE = {
    "paper": "err = learning * (cnt * inv_T - fb)",
    "code": "err = learning * fb",
}


class BRPSTDP(brp.BRP):
    """Hidden layers: STDP eligibility x BRP's local error; the readout: BRP's delta rule."""

    name = "brp-stdp"
    summary = "BRP's local error x STDP in the hidden layers"
    convolutions = False
    namespace = stdp.NAMESPACE

    def neuron_equations(self, stage) -> Equations:
        return brp.neuron_equations() + Equations(ERROR_VARIABLE)

    def synapses(self, stage, pre_stage):
        if stage.kind == "output":
            return super().synapses(stage, pre_stage)
        return stdp.synapse_equations(), stdp.pairing(ACCUMULATE)

    def delta_code(self, stage, form: str) -> str:
        if stage.kind == "output":
            return super().delta_code(stage, form)
        return f"{LEARNING_FLAG}\n{ERROR_CODE[form]}\nbias_grad += err * cnt * inv_T"

    def weight_range(self, bound: float) -> tuple[float, float]:
        return -bound, 1.3 * bound  # STDP learns only where the postsynaptic neuron spikes: excitatory drive


RULE = BRPSTDP()

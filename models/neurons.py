"""Spiking neuron models of BRP-SNN (Zhang et al., IEEE TNNLS 2021, eq. 2).

Eq. 2 of the paper is a leaky integrate-and-fire neuron whose leak is switched
off by a ``Spike`` flag during the refractory period ``tau_ref`` (the potential
is reset, not clamped; input keeps arriving):

    C dV/dt = -g (V - V_rest) (1 - Spike) + sum_j W_ij X_j

The authors' released code integrates it as the recurrence

    mem(t) = decay * mem(t-1) * (1 - spike(t-1)) + W x(t),   spike(t) = mem(t) > 0.5

with ``decay = 0.2``.  :meth:`LIFParameters.authors` is the parametrisation that
reproduces that recurrence exactly (tau_m = 1 ms / ln 5, so that the leak
integrated over dt = 1 ms is 0.2; V_reset = V_rest = 0; V_th = 0.5 mV).

Every time step of a layer runs in this order (see :mod:`models.network`):
the membrane ODE (Brian2 state updater), the synaptic input of this step
(``integrate_code``), the threshold, the reset.  Synapses accumulate the
weights of arriving spikes in ``I`` (one variable per synaptic event), so an
input arriving in the step of a spike still counts, as in the recurrence.

Spike-frequency adaptation (optional, ``adaptation`` > 0; Bellec et al. 2018's ALIF):
the threshold is ``v_th + theta``, ``theta`` jumps by ``adaptation`` at each spike and
relaxes to 0 with ``tau_adaptation``; it is reset with the potential between samples.
Every code that reads the threshold potential (the threshold, eq. 10's gate, BRP-STDP's
window) then reads ``v_th + theta`` (:meth:`LIFParameters.adapted`). With
``adaptation`` = 0 (the default, the paper's neuron) nothing of it is generated.

Units: membrane potentials in volt; synaptic weights are dimensionless and
scaled by ``w_unit`` (volt for current-based, siemens for conductance-based).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from brian2 import (
    Equations,
    Quantity,
    check_units,
    cm,
    farad,
    metre,
    ms,
    mV,
    nS,
    pF,
    siemens,
    ufarad,
    umetre,
)

# Eq. 2 with the Spike flag: the leak is multiplied by (1 - Spike) = not_refractory,
# while input keeps arriving through I (Brian2's "(unless refractory)" would clamp v).
LIF_EQUATIONS = """
dv/dt = -(v - v_rest) / tau_m * int(not_refractory) : volt  # eq. 2, leak gated by (1 - Spike)
"""

# Conductance-based variant: excitatory and inhibitory conductances with reversal potentials; positive weights
# excite, negative weights inhibit. The membrane is advanced in the integrate step (COBA_STEP), after this step's
# synaptic input, so that input moves the potential in the step it arrives, as in eq. 2's recurrence.
COBA_EQUATIONS = """
v : volt  # membrane potential (advanced by COBA_STEP)
g_e : siemens  # excitatory conductance
g_i : siemens  # inhibitory conductance
I_inh : 1  # inhibitory synaptic input arriving in this time step (sum of |w|)
"""

# One step dt of C dV/dt = g_leak (V_rest - V) (1 - Spike) + g_e (E_e - V) + g_i (E_i - V) with the conductances
# held at their value after this step's input (exponential Euler, exact for constant conductances):
# V += (drive - g V) dt/C * (1 - exp(-g dt/C)) / (g dt/C), written with exprel so that g = 0 is defined
# (a refractory neuron without synaptic input). As in eq. 2, the Spike flag switches off the leak only.
# Then the conductances decay over the step, and the bias is added.
COBA_STEP = """
g_e += I * w_unit
g_i += I_inh * w_unit
g_total = g_leak * int(not_refractory) + g_e + g_i
drive = g_leak * int(not_refractory) * v_rest + g_e * E_e + g_i * E_i
v += (drive - g_total * v) * dt / C_m * exprel(-g_total * dt / C_m)
g_e *= exp(-dt / tau_e)
g_i *= exp(-dt / tau_i)
v += bias * bias_unit
I = 0
I_inh = 0
"""

# Spike-frequency adaptation: the threshold's increment theta (volt), jumping at each spike.
ADAPTATION_EQUATION = """
dtheta/dt = -theta / tau_adaptation : volt  # threshold adaptation: the threshold is v_th + theta
"""


class ThresholdAdaptation:
    """The optional adaptive threshold shared by both neuron models (fields ``adaptation``, ``tau_adaptation``)."""

    @property
    def adapts(self) -> bool:
        return float(self.adaptation) > 0

    def adapted(self, code: str) -> str:
        """``code`` with the threshold potential ``v_th`` read as ``v_th + theta`` where the neuron adapts."""
        return re.sub(r"\bv_th\b", "(v_th + theta)", code) if self.adapts else code

    def _with_adaptation(self, equations: Equations) -> Equations:
        return equations + Equations(ADAPTATION_EQUATION) if self.adapts else equations

    @property
    def reset_code(self) -> str:
        """At each spike: the potential's reset, the spike count, and the threshold's jump."""
        return RESET + ("\ntheta += adaptation" if self.adapts else "")

    @property
    def threshold_code(self) -> str:
        return self.adapted(THRESHOLD)

    @property
    def gate_code(self) -> str:
        return self.adapted(GATE_CODE)

    def _sample_reset(self, code: str) -> str:
        return code + ("\ntheta = 0 * volt" if self.adapts else "")

    def _adaptation_namespace(self) -> dict:
        return {"adaptation": self.adaptation, "tau_adaptation": self.tau_adaptation} if self.adapts else {}


# Variables common to every model used in a layer.
LAYER_VARIABLES = """
I : 1  # synaptic input arriving in this time step (sum of weights of arriving spikes)
bias : 1  # bias, added every time step (in units of w_unit)
cnt : 1  # spikes of this neuron in the current sample
gate_sum : 1  # sum over the sample's steps of the pseudo-gradient of eq. 10
"""


@dataclass(frozen=True)
class LIFParameters(ThresholdAdaptation):
    """Parameters of the eq. 2 LIF neuron.

    Attributes
    ----------
    tau_m : second
        Membrane time constant C/g.
    v_rest, v_reset, v_th : volt
        Resting, reset and threshold potentials.
    tau_ref : second
        Refractory period, during which the leak is off (the Spike flag of eq. 2).
    w_unit : volt
        Potential added by a synaptic weight of 1.
    gate_width : volt
        Half-width ``a`` of the rectangular pseudo-gradient of eq. 10,
        ``f'(V) = 1/(2a) if |V - V_th| < a``.
    adaptation : volt
        Jump of the threshold at each spike (0: a fixed threshold, the paper's neuron).
    tau_adaptation : second
        Time constant with which the threshold relaxes back to ``v_th``.
    """

    tau_m: Quantity = field(default_factory=lambda: 1 * ms / math.log(5.0))
    v_rest: Quantity = field(default_factory=lambda: 0 * mV)
    v_reset: Quantity = field(default_factory=lambda: 0 * mV)
    v_th: Quantity = field(default_factory=lambda: 0.5 * mV)
    tau_ref: Quantity = field(default_factory=lambda: 1 * ms)
    w_unit: Quantity = field(default_factory=lambda: 1 * mV)
    gate_width: Quantity = field(default_factory=lambda: 0.5 * mV)
    adaptation: Quantity = field(default_factory=lambda: 0 * mV)
    tau_adaptation: Quantity = field(default_factory=lambda: 20 * ms)

    kind = "lif"

    @classmethod
    def authors(cls) -> LIFParameters:
        """The parametrisation equal to the authors' recurrence (decay 0.2, threshold 0.5)."""
        return cls()

    def decay(self, dt) -> float:
        """Leak factor over one time step ``dt`` (0.2 for the authors' parametrisation at 1 ms)."""
        return float(math.exp(-float(dt / self.tau_m)))

    @property
    def equations(self) -> Equations:
        return self._with_adaptation(Equations(LIF_EQUATIONS) + Equations(LAYER_VARIABLES))

    @property
    def integrate_code(self) -> str:
        """Run once per step, after incoming synapses: add this step's input (eq. 2's sum W X)."""
        return "v += (I + bias) * w_unit\nI = 0"

    @staticmethod
    def synaptic_input(weight: str = "w") -> str:
        """Synaptic code of an arriving event of strength ``weight`` (eq. 2's W X)."""
        return f"I_post += {weight}"

    @property
    def sample_reset_code(self) -> str:
        """Between samples: a fresh neuron, as at the start of each minibatch in the authors' code."""
        return self._sample_reset("v = v_reset\nI = 0\nlastspike = -1e4 * second")

    @property
    def namespace(self) -> dict:
        return {
            "tau_m": self.tau_m,
            "v_rest": self.v_rest,
            "v_reset": self.v_reset,
            "v_th": self.v_th,
            "w_unit": self.w_unit,
            "gate_width": self.gate_width,
            "gate_height": float(self.w_unit / (2 * self.gate_width)),
        } | self._adaptation_namespace()


@dataclass(frozen=True)
class COBAParameters(ThresholdAdaptation):
    """Parameters of the conductance-based LIF variant (the membrane of :data:`COBA_STEP`).

    The defaults are the conductance-based integrate-and-fire neuron of Vogels & Abbott (J. Neurosci. 2005),
    benchmark 1 of Brette et al. (J. Comput. Neurosci. 2007) and Brian2's COBA example: a membrane area of
    20,000 um^2 with the paper's specific capacitance of 1 uF/cm^2 (C_m = 200 pF), an input resistance of
    100 MOhm (g_leak = 10 nS, tau_m = 20 ms), V_rest = V_reset = -60 mV, V_th = -50 mV, E_e = 0 mV,
    E_i = -80 mV, tau_e = 5 ms, tau_i = 10 ms. Two choices are this project's: the refractory period is the
    paper's one step (1 ms; theirs is 5 ms), and the scales ``w_unit`` (a weight of 1 from rest moves the
    potential by 13 mV within the step, 1.3 times the threshold gap) and ``bias_unit``.
    :meth:`paper` keeps this membrane area and takes the paper's leak, g = 0.2 nS.

    Attributes
    ----------
    C_m : farad
        Membrane capacitance.
    g_leak : siemens
        Leak conductance.
    v_rest, v_reset, v_th : volt
        Resting, reset and threshold potentials.
    E_e, E_i : volt
        Reversal potentials of excitatory and inhibitory conductances.
    tau_e, tau_i : second
        Decay time constants of the conductances.
    tau_ref : second
        Refractory period: the leak is off (eq. 2's Spike flag), synaptic conductances still act, no spike.
    w_unit : siemens
        Conductance increment of a synaptic weight of 1.
    bias_unit : volt
        Potential added per step by a bias of 1; eq. 10's pseudo-gradient counts potentials in this unit.
    gate_width : volt
        Half-width ``a`` of the pseudo-gradient window of eq. 10 (half the threshold gap).
    adaptation, tau_adaptation : volt, second
        The adaptive threshold, as for :class:`LIFParameters`.
    """

    C_m: Quantity = field(default_factory=lambda: 200 * pF)
    g_leak: Quantity = field(default_factory=lambda: 10 * nS)
    v_rest: Quantity = field(default_factory=lambda: -60 * mV)
    v_reset: Quantity = field(default_factory=lambda: -60 * mV)
    v_th: Quantity = field(default_factory=lambda: -50 * mV)
    E_e: Quantity = field(default_factory=lambda: 0 * mV)
    E_i: Quantity = field(default_factory=lambda: -80 * mV)
    tau_e: Quantity = field(default_factory=lambda: 5 * ms)
    tau_i: Quantity = field(default_factory=lambda: 10 * ms)
    tau_ref: Quantity = field(default_factory=lambda: 1 * ms)
    w_unit: Quantity = field(default_factory=lambda: 50 * nS)
    bias_unit: Quantity = field(default_factory=lambda: 1 * mV)
    gate_width: Quantity = field(default_factory=lambda: 7.5 * mV)
    adaptation: Quantity = field(default_factory=lambda: 0 * mV)
    tau_adaptation: Quantity = field(default_factory=lambda: 20 * ms)

    kind = "coba"

    @classmethod
    @check_units(area=metre**2)
    def paper(cls, area=20000 * umetre**2, **kwargs) -> COBAParameters:
        """The paper's membrane, C = 1 uF/cm^2 over ``area`` and g = 0.2 nS (eq. 2), with the other defaults.

        At the default 20,000 um^2, C_m = 200 pF and tau_m = C_m / g = 1 s: over a sample of 20 ms the neuron
        hardly leaks. (The area at which the paper's C and g give the authors' decay of 0.2 per 1 ms step,
        tau_m = 0.62 ms, would be 12.4 um^2.)
        """
        return cls(C_m=1 * ufarad / cm**2 * area, g_leak=0.2 * nS, **kwargs)

    @property
    def equations(self) -> Equations:
        return self._with_adaptation(Equations(COBA_EQUATIONS) + Equations(LAYER_VARIABLES))

    @property
    def integrate_code(self) -> str:
        """Run once per step, after incoming synapses: this step's conductance input and the membrane's step."""
        return COBA_STEP.strip()

    @staticmethod
    def synaptic_input(weight: str = "w") -> str:
        """Positive weights drive the excitatory conductance, negative ones the inhibitory one."""
        return f"I_post += {weight} * int(w > 0)\nI_inh_post -= {weight} * int(w < 0)"

    @property
    def sample_reset_code(self) -> str:
        return self._sample_reset(
            "v = v_reset\nI = 0\nI_inh = 0\ng_e = 0 * siemens\ng_i = 0 * siemens\nlastspike = -1e4 * second"
        )

    @property
    def namespace(self) -> dict:
        names = ("C_m", "g_leak", "v_rest", "v_reset", "v_th", "E_e", "E_i", "tau_e", "tau_i")
        ns = {name: getattr(self, name) for name in names}
        # eq. 10's 1/(2a), with potentials measured in bias_unit (the unit of the layer's dimensionless inputs)
        gate_height = float(self.bias_unit / (2 * self.gate_width))
        ns.update(w_unit=self.w_unit, bias_unit=self.bias_unit, gate_width=self.gate_width, gate_height=gate_height)
        return ns | self._adaptation_namespace()


@check_units(C=farad, g=siemens)
def lif_from_membrane(C, g, **kwargs) -> LIFParameters:
    """Eq. 2 LIF parametrised physically: capacitance ``C`` (farad), leak conductance ``g`` (siemens).

    Other fields of :class:`LIFParameters` (potentials in volt, ``tau_ref`` in second) as keywords.
    """
    return LIFParameters(tau_m=C / g, **kwargs)


NEURON_MODELS = {"lif": LIFParameters, "coba": COBAParameters}


def neuron_parameters(
    kind: str, adaptation: float = 0.0, tau_adaptation: float = 20.0
) -> LIFParameters | COBAParameters:
    """Default parameters of the neuron model named ``kind`` ('lif' or 'coba'), with a threshold adaptation of
    ``adaptation`` mV per spike and ``tau_adaptation`` ms (0: none)."""
    try:
        model = NEURON_MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown neuron model {kind!r}; expected one of {sorted(NEURON_MODELS)}") from None
    return model(adaptation=adaptation * mV, tau_adaptation=tau_adaptation * ms)


# The pseudo-gradient of eq. 10, accumulated over the steps of a sample,
# evaluated on the potential that the threshold sees (before the reset).
GATE_CODE = "gate_sum += gate_height * int(abs(v - v_th) < gate_width)"
THRESHOLD = "v > v_th"
RESET = "v = v_reset\ncnt += 1"

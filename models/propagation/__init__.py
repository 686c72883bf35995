"""Queue-free synaptic propagation inside Brian2's code generation, for ``cpp_standalone``.

Brian2's ``cpp_standalone`` delivers every event of a pathway through its spike
queue: ``*_push_spikes`` copies the synapse ids of each spiking neuron into the
queue, ``peek()`` copies them again, and the pathway's code gathers
``_synaptic_post[_idx]`` and ``w[_idx]`` per event.  For the zero-delay pathways of
this project the queue is pure overhead, and for all-to-all pathways the gather is too.

:class:`DirectPropagationCodeObject` is a code object class attached to a pathway
(the extension point of Brian2's own GSL code objects and of Brian2GeNN); its
templates override ``synapses.cpp`` and ``synapses_push_spikes.cpp`` only.  At the
start of each run the compiled program checks the pathway's synapses once and
chooses, per pathway:

* ``dense``: all-to-all in pre-major order (synapse k = (k // N_post, k % N_post))
  with zero delays.  Each spiking source's synapses are one contiguous row (a
  strided column for a ``post`` pathway): the pathway's own per-synapse code runs
  over it with an affine target index, which the compiler vectorises;
* ``direct``: any other connectivity with zero delays.  The code runs over each
  spiking source's synapse list (ascending synapse ids), read from the source's
  event space without the queue;
* ``queue``: anything else (delays): Brian2's template, unchanged.

Sources are visited in ascending order and each one's synapses in ascending id, as
Brian2's queue delivers them, so every target variable sums its contributions in
the same order: results are bit-identical to Brian2's path (``tests/test_propagation.py``;
this needs ``-fno-associative-math``, :data:`models.devices.EXTRA_GCC_ARGS`).
Each program run writes the chosen mode of every pathway to
``<results>/propagation_<pathway>.txt`` (:func:`chosen_modes`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from brian2 import Synapses, get_device
from brian2.devices.cpp_standalone import CPPStandaloneCodeObject
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

PROPAGATIONS = ("auto", "generic")
MODES = ("queue", "direct", "dense")  # index = the mode's number in the generated code
TEMPLATES = ("synapses.cpp", "synapses_push_spikes.cpp")
# sha256 of the Brian2 templates (brian2 2.10.1) whose code the overrides repeat in their 'queue' branch
UPSTREAM_DIGESTS = {
    "synapses.cpp": "a51e647fce2dec98f7c346389363b887b26cf46e97d1db6487cdbe29f8d2a344",
    "synapses_push_spikes.cpp": "677e3c862bf328e0c86903811db3e0b8a9b17460fa4cac98a1429d5a40ee2fc4",
}


class DirectPropagationCodeObject(CPPStandaloneCodeObject):
    """``cpp_standalone`` code object whose pathways skip the spike queue where the structure allows."""

    templater = CPPStandaloneCodeObject.templater.derive("models.propagation")
    class_name = "direct_propagation_cpp_standalone"


def supported() -> bool:
    """Whether the current device is Brian2's C++ standalone (brian2cuda and runtime keep their own paths)."""
    return type(get_device()) is CPPStandaloneDevice


def attach(objects, propagation: str) -> int:
    """Give every pathway of the Synapses in ``objects`` the queue-free code object (``propagation='auto'``).

    Does nothing for ``'generic'`` (Brian2's path) or on a device other than ``cpp_standalone``.
    Returns the number of pathways attached.
    """
    if propagation not in PROPAGATIONS:
        raise ValueError(f"unknown propagation {propagation!r}; expected one of {PROPAGATIONS}")
    if propagation == "generic" or not supported():
        return 0
    attached = 0
    for obj in objects:
        if isinstance(obj, Synapses):
            for pathway in obj._pathways:
                pathway.codeobj_class = DirectPropagationCodeObject
                attached += 1
    return attached


def chosen_modes(results_dir) -> dict[str, str]:
    """Pathway name -> mode ('dense', 'direct' or 'queue') chosen in the last run of a program."""
    return {
        path.stem.removeprefix("propagation_"): path.read_text().strip()
        for path in sorted(Path(results_dir).glob("propagation_*.txt"))
    }


def upstream_digests() -> dict[str, str]:
    """sha256 of the installed Brian2 templates that :data:`TEMPLATES` override."""
    import brian2.devices.cpp_standalone as standalone

    folder = Path(standalone.__file__).parent / "templates"
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in TEMPLATES}

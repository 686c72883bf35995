"""Nanoseconds per synaptic event of each pathway between consecutive stages, from a profiled run.

The Synapses ``<pre>_<post>`` into each stage has a forward pathway ``pre`` (events:
the pre stage's spikes, or pooled events, x its fan-out) and, where it learns, a
``sample_end`` pathway (events: the pre stage's neurons active in a sample x its
fan-out, at each sample's end). A pathway's seconds are those of its code object
plus its ``push_spikes`` (Brian2's spike queue; on the generic path only), the fixed
cost of its call at every step included: in a nearly silent stage that cost dominates.
The fan-out is the stage's mean (:func:`models.layers.stage_table`): a convolution's
border inputs reach fewer synapses than the mean, so there the events are estimates.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from models import layers

# '<synapses>_<pathway>_codeobject' or '<synapses>_<pathway>_push_spikes', '_1' ... when a name was taken
PATHWAY_CODE = re.compile(r"(?P<synapses>.+)_(?P<pathway>pre|sample_end)_(?:codeobject|push_spikes)(?:_\d+)?")


def ns_per_event(spec, activity, profile) -> list[tuple[str, str, float, float]]:
    """(synapses, pathway, events in the run, ns per event) of every profiled pathway between stages.

    ``activity`` is the run's ``RunResult.activity``, ``profile`` its ``Trainer.profiling_summary()``.
    """
    seconds = defaultdict(float)
    for name, t in profile:
        if match := PATHWAY_CODE.fullmatch(name):
            seconds[match["synapses"], match["pathway"]] += float(t)
    stages = spec.stages
    fan_outs = [row["fan_out"] for row in layers.stage_table(stages)]
    rows = []
    for k, (pre, post) in enumerate(zip(stages, stages[1:])):
        for pathway, sources in (("pre", activity["spikes"][k]), ("sample_end", activity["active"][k])):
            key = (f"{pre.name}_{post.name}", pathway)
            if key in seconds:
                events = float(np.sum(sources)) * fan_outs[k]
                rows.append((*key, events, 1e9 * seconds[key] / events if events else float("nan")))
    return rows


def print_ns_per_event(spec, activity, profile) -> None:
    print("    ns per synaptic event of each pathway (profiled run, push_spikes included):")
    for synapses, pathway, events, ns in ns_per_event(spec, activity, profile):
        print(f"      {synapses:<16} {pathway:<10} {ns:10.3f} ns  ({events:.3g} events)")

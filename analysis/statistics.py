"""Firing statistics of saved runs: the quantities behind the paper's Figs. 7 and 9 and its Table I cost argument.

Zhang et al., *Tuning Convolutional Spiking Neural Network With Biologically Plausible Reward Propagation*, IEEE TNNLS
2021. Every function takes tidy tables of :mod:`analysis.runs` (``run`` is the folder name, one column per setting)
and returns a tidy table. Time is counted in simulation steps of dt = 1 ms.
"""

from __future__ import annotations

import math

import elephant.statistics
import numpy as np
import pandas as pd

from analysis.runs import SETTING_COLUMNS

RUN_KEYS = [*SETTING_COLUMNS, "run"]
SAMPLE_KEYS = [*RUN_KEYS, "epoch", "split", "sample"]
LAYER_COLUMNS = ["kind", "depth", "n_neurons", "fan_out", "synapses_in"]


def varying_settings(table: pd.DataFrame) -> list[str]:
    """The settings, other than the seed, whose values differ between the runs of ``table``."""
    return [
        column
        for column in SETTING_COLUMNS
        if column != "seed" and column in table and table[column].nunique(dropna=False) > 1
    ]


def setting_labels(table: pd.DataFrame) -> pd.Series:
    """Each row's values of the :func:`varying_settings`, as ``"T=20, alpha=2.0"`` (``"all runs"`` if none vary)."""
    columns = varying_settings(table)
    if not columns:
        return pd.Series("all runs", index=table.index)
    return table[columns].apply(lambda row: ", ".join(f"{c}={row[c]}" for c in columns), axis=1)


def comparable_runs(table: pd.DataFrame, variable: str) -> pd.DataFrame:
    """The rows of the largest set of runs that differ only in ``variable`` and the seed.

    Runs of several sweeps (say a grid over the signal, one over T and one over alpha) form groups of equal other
    settings; a figure against ``variable`` compares the group with the most values of ``variable`` (then the most
    runs, then the first given).
    """
    if table.empty:
        return table
    others = [column for column in SETTING_COLUMNS if column not in (variable, "seed")]
    runs = table.drop_duplicates("run")
    groups = [group for _, group in runs.groupby(others, dropna=False, sort=False)]
    chosen = max(groups, key=lambda group: (group[variable].nunique(dropna=False), len(group)))
    return table[table["run"].isin(chosen["run"])]


def final_test_accuracy(metrics: pd.DataFrame) -> pd.DataFrame:
    """Each run's test row of metrics.csv at its last tested epoch."""
    test = metrics[metrics["split"] == "test"]
    return test[test["epoch"] == test.groupby("run")["epoch"].transform("max")]


def final_epoch(table: pd.DataFrame) -> pd.DataFrame:
    """Each run's rows of its last recorded epoch: the test split where that epoch has one, else the training split."""
    last = table[table["epoch"] == table.groupby("run")["epoch"].transform("max")]
    runs_with_test = last.loc[last["split"] == "test", "run"]
    return last[(last["split"] == "test") | ~last["run"].isin(runs_with_test)]


def sample_firing(firing: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """One row per run, epoch, split, recorded sample and layer, with the layer's firing in that sample.

    Adds to firing.csv's columns the layer's ``kind``, ``depth`` (0 for the first layer of layers.csv), ``n_neurons``,
    ``fan_out`` and ``synapses_in``, and

    - ``rate``: spikes per neuron per step, spikes / (n_neurons * T), the per-sample firing-rate distribution;
    - ``silent_fraction``: 1 - active / n_neurons, the neurons that fired no spike in the sample (Fig. 9);
    - ``synaptic_events``: spikes * fan_out, the synapses that the layer's spikes reached in the next stage.
    """
    described = layers.assign(depth=layers.groupby("run").cumcount())[["run", "layer", *LAYER_COLUMNS]]
    if described.duplicated(["run", "layer"]).any():
        raise ValueError("layers.csv names a layer twice")
    samples = firing.merge(described, on=["run", "layer"], how="left")
    unknown = samples.loc[samples["n_neurons"].isna(), ["run", "layer"]].drop_duplicates()
    if len(unknown):
        run, layer = unknown.iloc[0]
        raise ValueError(f"run {run}: firing.csv names layer {layer!r}, which its layers.csv lacks")
    steps = pd.to_numeric(samples["T"])
    samples["rate"] = samples["spikes"] / (samples["n_neurons"] * steps)
    samples["silent_fraction"] = 1 - samples["active"] / samples["n_neurons"]
    samples["synaptic_events"] = samples["spikes"] * samples["fan_out"]
    return samples


def layer_firing(samples: pd.DataFrame) -> pd.DataFrame:
    """Per run, epoch, split and layer: the mean over samples of the rate and of the silent-neuron proportion.

    ``samples`` is :func:`sample_firing`'s table; ``silent_fraction_sd`` is the standard deviation over samples.
    """
    keys = [*RUN_KEYS, "epoch", "split", "layer", "kind", "depth", "n_neurons"]
    return (
        samples.groupby(keys, dropna=False, sort=False)
        .agg(
            samples=("sample", "nunique"),
            rate=("rate", "mean"),
            silent_fraction=("silent_fraction", "mean"),
            silent_fraction_sd=("silent_fraction", "std"),
        )
        .reset_index()
    )


SATURATED = 0.9  # spikes per step: a neuron at or above this rate fires in nearly every step
STEPS_PER_SECOND = 1000  # steps of dt = 1 ms: a rate in spikes per step times this is in Hz


def neuron_rate_summary(neurons: pd.DataFrame) -> pd.DataFrame:
    """Per run, epoch, split and layer: the distribution of its neurons' rates (neurons.csv, spikes per step).

    ``rate`` is the layer's mean, ``rate_hz`` the same in Hz (dt = 1 ms), ``median_rate`` the median neuron,
    ``never_fired`` the proportion of neurons without a spike in the split's samples and ``saturated`` the proportion
    at or above :data:`SATURATED` spikes per step: together they show the bimodality of saturated networks.
    """
    keys = [*RUN_KEYS, "epoch", "split", "layer"]
    summary = (
        neurons.assign(never=neurons["rate"] == 0, saturated=neurons["rate"] >= SATURATED)
        .groupby(keys, dropna=False, sort=False)
        .agg(
            n_neurons=("neuron", "size"),
            rate=("rate", "mean"),
            median_rate=("rate", "median"),
            never_fired=("never", "mean"),
            saturated=("saturated", "mean"),
        )
        .reset_index()
    )
    summary["rate_hz"] = summary["rate"] * STEPS_PER_SECOND
    return summary


def synaptic_operations(samples: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """Per sample: the SNN's synaptic operations against the dense ANN's multiply-accumulates (Table I's argument).

    ``snn_synaptic_ops`` is the sum over layers of spikes * fan_out: each spike, at any of the sample's T steps, adds
    its weight at every synapse it reaches, so the SNN's events are summed over all T steps of the sample.
    ``ann_macs`` is the sum over layers of synapses_in: the same network run as a dense ANN does one forward pass per
    sample, one multiply-accumulate per synapse. ``ratio`` = snn_synaptic_ops / ann_macs; silent neurons cause no
    events, which is where the paper's saving comes from, while every extra step of T adds events. ``samples`` is
    :func:`sample_firing`'s table.
    """
    macs = layers.groupby("run")["synapses_in"].sum().rename("ann_macs")
    operations = (
        samples.groupby([*SAMPLE_KEYS, "label"], dropna=False, sort=False)["synaptic_events"]
        .sum()
        .rename("snn_synaptic_ops")
        .reset_index()
        .merge(macs, on="run", how="left")
    )
    operations["ratio"] = operations["snn_synaptic_ops"] / operations["ann_macs"]
    return operations


def silent_against_input(samples: pd.DataFrame) -> pd.DataFrame:
    """Per run and non-input layer at the run's final epoch: silent-neuron proportion against input spikes (Fig. 9).

    ``input_spike_proportion`` is the input layer's spikes / (n_input * T), averaged over the samples: the proportion
    of input neurons and steps with a spike, which the encoder's alpha sets (eq. 3: probability intensity / alpha).
    ``silent_fraction`` is the layer's mean over the same samples. ``samples`` is :func:`sample_firing`'s table.
    """
    per_layer = layer_firing(final_epoch(samples))
    inputs = per_layer.loc[per_layer["kind"] == "input", ["run", "rate"]]
    inputs = inputs.rename(columns={"rate": "input_spike_proportion"})
    return per_layer[per_layer["kind"] != "input"].merge(inputs, on="run")


def interspike_intervals(spike_times) -> np.ndarray:
    """Intervals between consecutive spikes of one spike train (Elephant's ``isi``), in the unit of the times."""
    return elephant.statistics.isi(np.sort(np.asarray(spike_times, dtype=float)))


def isi_cv(intervals) -> float:
    """Coefficient of variation of interspike intervals: standard deviation / mean (Elephant's ``cv``).

    The standard deviation is the population one (ddof = 0, as ``scipy.stats.variation``). 1 for a Poisson process,
    0 for a regular train; NaN with fewer than two intervals.
    """
    intervals = np.asarray(intervals, dtype=float)
    if intervals.size < 2:
        return math.nan
    return float(elephant.statistics.cv(intervals))


def fano_factor(spike_trains) -> float:
    """Fano factor of spike counts over spike trains of equal duration: variance / mean (Elephant's ``fanofactor``).

    The variance is the population one (ddof = 0). 1 for a Poisson process, 0 for identical counts; NaN with fewer
    than two trains or no spike at all.
    """
    trains = [np.asarray(train, dtype=float) for train in spike_trains]
    if len(trains) < 2:
        return math.nan
    return float(elephant.statistics.fanofactor(trains))


def spike_train_statistics(traces: pd.DataFrame) -> pd.DataFrame:
    """Per run, epoch, split, layer and traced neuron: ISI coefficient of variation and Fano factor.

    Each recorded sample of a neuron is one spike train of T steps (traces.csv's ``spike`` = 1 at its spike steps).
    ``isi_cv`` pools the interspike intervals (in steps of 1 ms) of all its samples, since one sample of T steps holds
    few of them; intervals never span two samples, as the membrane is reset between samples. ``fano_factor`` is over
    the samples' spike counts, so it includes the variation between the different inputs of the samples.
    """
    keys = [*RUN_KEYS, "epoch", "split", "layer", "neuron"]
    rows = []
    for key, neuron in traces.groupby(keys, dropna=False, sort=False):
        trains = [sample.loc[sample["spike"] > 0, "step"].to_numpy() for _, sample in neuron.groupby("sample")]
        intervals = np.concatenate([interspike_intervals(train) for train in trains])
        rows.append(
            {
                **dict(zip(keys, key)),
                "samples": len(trains),
                "spikes": sum(len(train) for train in trains),
                "intervals": len(intervals),
                "isi_cv": isi_cv(intervals),
                "fano_factor": fano_factor(trains),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, "samples", "spikes", "intervals", "isi_cv", "fano_factor"])

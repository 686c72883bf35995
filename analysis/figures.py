"""Seaborn figures of saved runs, from their tables only: the paper's Figs. 6 to 9 and firing distributions.

Each function takes tables of the :mod:`analysis.runs` loaders and returns a matplotlib ``Figure`` (created without
pyplot, so it renders with the Agg canvas and never opens a window), or None when the tables lack what the figure
needs. Save one with ``figure.savefig(path)``.
"""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from analysis import statistics

SIGNAL_NAMES = {"label": "TP_BRP (label)", "error": "TP_err (error)", "sign": "TP_sign (sign)"}
PANEL_SIZE = (6.4, 4.4)
MAX_TRACED_PER_LAYER = 10  # neurons drawn per layer in Fig. 7: one colour each of a qualitative palette
LEGEND_OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.02, 1), "borderaxespad": 0}


@contextmanager
def _seaborn_style():
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        yield


def _new_figure(panels: int = 1, sharey: bool = False, legend_width: float = 0.0):
    """A figure of ``panels`` axes side by side, ``legend_width`` inches wider for a legend outside them."""
    figure = Figure(figsize=(PANEL_SIZE[0] * panels + legend_width, PANEL_SIZE[1]), layout="constrained")
    return figure, figure.subplots(1, panels, squeeze=False, sharey=sharey)[0]


def _legend_width(labels) -> float:
    """Inches for a legend outside the axes that holds ``labels`` (about 0.09 inch per character at this style)."""
    return max(3.6, 0.8 + 0.09 * max((len(str(label)) for label in labels), default=0))


def _signal_names(metrics: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """The reward signal of each row as the paper names it, and their order (label, error, sign, then others)."""
    names = metrics["signal"].map(lambda signal: SIGNAL_NAMES.get(signal, str(signal)))
    order = [name for name in SIGNAL_NAMES.values() if name in set(names)]
    return names, order + sorted(set(names) - set(order))


def _layer_order(table: pd.DataFrame) -> list[str]:
    return list(table.sort_values("depth", kind="stable")["layer"].unique())


def convergence_figure(metrics: pd.DataFrame) -> Figure | None:
    """Fig. 6: training and test accuracy per epoch for each reward signal TP (eqs. 4, 5 and 7).

    Lines are the mean over runs (seeds), bands their standard deviation. ``metrics``: :func:`analysis.runs.load_table`
    of metrics.csv, best restricted with ``statistics.comparable_runs(metrics, "signal")``.
    """
    data = metrics[metrics["split"].isin(["train", "test"])].dropna(subset=["accuracy"])
    if data.empty:
        return None
    names, order = _signal_names(data)
    data = data.assign(**{"accuracy (%)": 100 * data["accuracy"], "reward signal": names})
    with _seaborn_style():
        figure, (ax,) = _new_figure(legend_width=2.4)
        sns.lineplot(
            data=data,
            x="epoch",
            y="accuracy (%)",
            hue="reward signal",
            hue_order=order,
            style="split",
            style_order=["train", "test"],
            markers=True,
            errorbar="sd",
            ax=ax,
        )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        sns.move_legend(ax, **LEGEND_OUTSIDE)
        ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Fig. 6: convergence of the reward signals")
    return figure


def accuracy_against_T_figure(metrics: pd.DataFrame) -> Figure | None:
    """Fig. 8: test accuracy at each run's final epoch against the time window T; mean and sd over seeds, dots: runs.

    Needs at least two values of T; best restricted with ``statistics.comparable_runs(metrics, "T")``.
    """
    final = statistics.final_test_accuracy(metrics).dropna(subset=["accuracy"])
    final = final.assign(T=pd.to_numeric(final["T"])).dropna(subset=["T"])
    if final["T"].nunique() < 2:
        return None
    names, order = _signal_names(final)
    final = final.assign(**{"accuracy (%)": 100 * final["accuracy"], "reward signal": names})
    with _seaborn_style():
        figure, (ax,) = _new_figure()
        common = {"data": final, "x": "T", "y": "accuracy (%)", "hue": "reward signal", "hue_order": order, "ax": ax}
        sns.lineplot(**common, errorbar="sd", marker="o", err_style="bars")
        sns.scatterplot(**common, alpha=0.4, legend=False)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(
            xlabel="time window T (steps of 1 ms)",
            ylabel="test accuracy at the final epoch (%)",
            title="Fig. 8: accuracy against the time window T",
        )
    return figure


def membrane_traces_figure(
    traces: pd.DataFrame, run: str | None = None, threshold_mV: float | None = None
) -> Figure | None:
    """Fig. 7: membrane potential of the traced neurons in one sample, at the earliest and the latest traced epoch.

    A grid of panels: one row per traced layer, in the order of traces.csv (forward order), one column per shown epoch
    (earliest, latest), sharing the time axis. ``run`` defaults to the first run of ``traces``; each column shows the
    first traced sample of its epoch (training split first); the potential after step k (traces.csv's ``v_mV``) is
    drawn at (k + 1) ms. Each panel has one line per neuron, in colours distinct within the row (the first
    :data:`MAX_TRACED_PER_LAYER` neurons of a layer), each spike a marker of the neuron's colour on its own trace
    (the recorded ``v_mV`` at the spike's step), and the threshold as a dashed line; each row has a legend of its
    neurons' indices outside the right edge. ``threshold_mV`` defaults to the run's recorded threshold (config.json's
    ``v_th_mV``; none drawn for runs without it). Returns None without traces.
    """
    if traces.empty:
        return None
    data = traces[traces["run"] == (run if run is not None else traces["run"].iloc[0])]
    if data.empty:
        return None
    if threshold_mV is None:
        recorded = data["v_th_mV"].iloc[0] if "v_th_mV" in data else None
        threshold_mV = None if recorded is None or pd.isna(recorded) else float(recorded)
    layers = list(dict.fromkeys(data["layer"]))
    neurons = {layer: list(dict.fromkeys(data.loc[data["layer"] == layer, "neuron"])) for layer in layers}
    traced = {layer: len(indices) for layer, indices in neurons.items()}
    neurons = {layer: indices[:MAX_TRACED_PER_LAYER] for layer, indices in neurons.items()}
    epochs = sorted(data["epoch"].unique())
    shown = list(dict.fromkeys([epochs[0], epochs[-1]]))
    stages = ["early", "late"] if len(shown) == 2 else ["only traced"]
    data = data.assign(**{"time (ms)": data["step"] + 1}).sort_values(["epoch", "step"], kind="stable")
    with _seaborn_style():
        colours = sns.color_palette("tab10", MAX_TRACED_PER_LAYER)
        figure = Figure(
            figsize=(PANEL_SIZE[0] * len(shown) + 1.8, PANEL_SIZE[1] * 0.8 * len(layers) + 0.6), layout="constrained"
        )
        axes = figure.subplots(len(layers), len(shown), squeeze=False, sharex=True, sharey="row")
        for column, (epoch, stage) in enumerate(zip(shown, stages)):
            at_epoch = data[data["epoch"] == epoch]
            split = "train" if (at_epoch["split"] == "train").any() else at_epoch["split"].iloc[0]
            sample = at_epoch.loc[at_epoch["split"] == split, "sample"].min()
            rows = at_epoch[(at_epoch["split"] == split) & (at_epoch["sample"] == sample)]
            for row, layer in enumerate(layers):
                ax = axes[row, column]
                for neuron, colour in zip(neurons[layer], colours):
                    trace = rows[(rows["layer"] == layer) & (rows["neuron"] == neuron)]
                    ax.plot(trace["time (ms)"], trace["v_mV"], color=colour, linewidth=1.4, label=f"#{neuron}")
                    spikes = trace[trace["spike"] > 0]
                    ax.scatter(
                        spikes["time (ms)"],
                        spikes["v_mV"],
                        color=colour,
                        marker="o",
                        s=36,
                        edgecolors="white",
                        linewidths=0.8,
                        zorder=3,
                    )
                if threshold_mV is not None:
                    ax.axhline(threshold_mV, color="0.3", linestyle="--", linewidth=1.2)
                ax.set_title(f"{layer}, epoch {epoch} ({stage}): {split} sample {sample}", fontsize="medium")
                if column == 0:
                    ax.set_ylabel("membrane potential v (mV)")
                if row == len(layers) - 1:
                    ax.set_xlabel("time in the sample (ms)")
                    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for row, layer in enumerate(layers):
            ax = axes[row, -1]
            handles = [Line2D([], [], color=colour, linewidth=1.4) for colour in colours[: len(neurons[layer])]]
            labels = [f"#{neuron}" for neuron in neurons[layer]]
            handles.append(Line2D([], [], color="0.3", marker="o", linestyle="none", markeredgecolor="white"))
            labels.append("spike")
            if threshold_mV is not None:
                handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=1.2))
                labels.append(f"threshold {threshold_mV:g} mV")
            title = f"{layer} neuron"
            if traced[layer] > len(neurons[layer]):
                title += f"\n(first {len(neurons[layer])} of {traced[layer]})"
            ax.legend(handles, labels, title=title, fontsize="small", **LEGEND_OUTSIDE)
        figure.suptitle(f"Fig. 7: membrane potentials and spikes, run {data['run'].iloc[0]}")
    return figure


def silent_against_input_figure(firing: pd.DataFrame, layers: pd.DataFrame) -> Figure | None:
    """Fig. 9: silent-neuron proportion of each layer against the proportion of input spikes, across encoder alphas.

    One dot per run (final epoch, mean over its recorded samples), lines through the means over runs (seeds) of each
    alpha with their sd. Needs runs at two or more values of alpha; best restricted with
    ``statistics.comparable_runs(firing, "alpha")``.
    """
    if firing.empty or firing["alpha"].nunique() < 2:
        return None
    table = statistics.silent_against_input(statistics.sample_firing(firing, layers))
    if table.empty:
        return None
    table = table.assign(
        **{
            "input spikes (%)": 100 * table["input_spike_proportion"],
            "silent neurons (%)": 100 * table["silent_fraction"],
        }
    )
    table["mean input spikes (%)"] = table.groupby("alpha")["input spikes (%)"].transform("mean")
    order = _layer_order(table)
    with _seaborn_style():
        figure, (ax,) = _new_figure(legend_width=2.4)
        sns.lineplot(
            data=table,
            x="mean input spikes (%)",
            y="silent neurons (%)",
            hue="layer",
            hue_order=order,
            marker="o",
            errorbar="sd",
            err_style="bars",
            ax=ax,
        )
        sns.scatterplot(
            data=table, x="input spikes (%)", y="silent neurons (%)", hue="layer", hue_order=order, alpha=0.4, ax=ax
        )
        ax.axhline(50, color="0.3", linestyle=":", label="half of the neurons")
        handles, labels = ax.get_legend_handles_labels()
        first_of_each = {}
        for label, handle in zip(labels, handles):
            first_of_each.setdefault(label, handle)
        ax.legend(list(first_of_each.values()), list(first_of_each), title="layer", **LEGEND_OUTSIDE)
        ax.set_xlim(left=0)
        ax.set_ylim(0, 100)
        ax.set(
            xlabel="input spikes (% of input neurons × steps)",
            ylabel="silent neurons (% of the layer)",
            title="Fig. 9: silent neurons against input spikes",
        )
    return figure


def firing_rate_figure(firing: pd.DataFrame, layers: pd.DataFrame) -> Figure | None:
    """Distribution over samples of each layer's firing rate at each run's final epoch, by setting.

    Hue: the settings that differ between the runs (:func:`analysis.statistics.setting_labels`), pooled over seeds.
    """
    if firing.empty:
        return None
    samples = statistics.final_epoch(statistics.sample_firing(firing, layers))
    return _rate_violins(samples, _layer_order(samples), "Firing rates per layer (final epoch; one value per sample)")


def neuron_rate_figure(neurons: pd.DataFrame) -> Figure | None:
    """Distribution over neurons of each layer's rates (neurons.csv) at each run's final epoch, by setting.

    One value per neuron (its spikes per step over the split's samples); hue as in :func:`firing_rate_figure`.
    """
    if neurons.empty:
        return None
    rates = statistics.final_epoch(neurons)
    order = list(dict.fromkeys(rates["layer"]))
    return _rate_violins(rates, order, "Firing rates per neuron (final epoch; one value per neuron)")


def _rate_violins(table: pd.DataFrame, order: list[str], title: str) -> Figure:
    """Violins of ``table``'s ``rate`` per layer (in ``order``), one hue per setting, the legend outside."""
    table = table.assign(setting=statistics.setting_labels(table))
    with _seaborn_style():
        figure, (ax,) = _new_figure(legend_width=_legend_width(table["setting"].unique()))
        sns.violinplot(
            data=table,
            x="layer",
            y="rate",
            hue="setting",
            order=order,
            cut=0,
            inner="quart",
            density_norm="width",
            ax=ax,
        )
        sns.move_legend(ax, **LEGEND_OUTSIDE)
        ax.set(xlabel="layer", ylabel="firing rate (spikes / neuron / ms)", title=title)
    return figure


def isi_cv_figure(traces: pd.DataFrame) -> Figure | None:
    """Distribution of the traced neurons' ISI coefficient of variation per layer and traced epoch (dots: neurons).

    Needs a neuron with at least two interspike intervals; the dashed line is a Poisson process's CV of 1.
    """
    table = statistics.spike_train_statistics(traces).dropna(subset=["isi_cv"])
    if table.empty:
        return None
    table = table.assign(epoch=table["epoch"].astype(str))
    columns = -(-table["epoch"].nunique() // 12)  # legend columns of at most 12 epochs
    with _seaborn_style():
        figure, (ax,) = _new_figure(legend_width=0.6 + 1.1 * columns)
        sns.stripplot(data=table, x="layer", y="isi_cv", hue="epoch", dodge=True, size=7, ax=ax)
        ax.axhline(1, color="0.3", linestyle="--", label="Poisson (CV = 1)")
        ax.legend(title="epoch", ncols=columns, **LEGEND_OUTSIDE)
        ax.set(
            xlabel="layer",
            ylabel="ISI coefficient of variation (sd / mean)",
            title="ISI variability of the traced neurons",
        )
    return figure

"""Figures and a markdown summary of saved runs: ``python -m analysis.report RUN_DIR [RUN_DIR ...] --out DIR``.

Writes into DIR (created if needed; nothing in it is deleted, files of the same names are replaced) every figure of
:mod:`analysis.figures` that the runs support, as PNG, and ``report.md``: final accuracy per setting, firing rates and
silent neurons per layer, the SNN's synaptic operations against the dense ANN's multiply-accumulates, ISI CV and Fano
factor of the traced neurons, each figure linked, and what each run lacked. Runs with only metrics.csv still give
Figs. 6 and 8. Bad input ends with one line ``python -m analysis.report: error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import pandas as pd

from analysis import figures, runs, statistics

PROG = "python -m analysis.report"
FIRING_TABLES = ("layers.csv", "firing.csv")
TRACE_TABLE = "traces.csv"
NEURON_TABLE = "neurons.csv"
PNG_DPI = 110


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None) -> int:
    parser = _OneLineParser(prog=PROG, description="Figures (PNG) and report.md of saved runs.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders written by python -m protocols.*")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG figures and report.md")
    args = parser.parse_args(argv)
    try:
        report = write_report(args.run_dirs, args.out)
    except (ValueError, OSError) as error:
        print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(report)
    return 0


def write_report(run_dirs, out) -> Path:
    """Write the figures the runs support and ``report.md`` into ``out``; return the path of ``report.md``."""
    folders = [Path(folder) for folder in run_dirs]
    _check_distinct_names(folders)
    metrics = runs.load_table(folders, "metrics.csv")
    with_firing = [folder for folder in folders if all((folder / name).is_file() for name in FIRING_TABLES)]
    with_traces = [folder for folder in folders if (folder / TRACE_TABLE).is_file()]
    with_neurons = [folder for folder in folders if (folder / NEURON_TABLE).is_file()]
    firing = runs.load_firing(with_firing) if with_firing else None
    layers = runs.load_layers(with_firing) if with_firing else None
    traces = runs.load_traces(with_traces) if with_traces else None
    neurons = runs.load_neurons(with_neurons) if with_neurons else None
    if firing is not None and firing.empty:
        firing = layers = None
    if traces is not None and traces.empty:
        traces = None
    if neurons is not None and neurons.empty:
        neurons = None
    final_samples = statistics.final_epoch(statistics.sample_firing(firing, layers)) if firing is not None else None

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Firing statistics of {len(folders)} runs", ""]
    lines += _runs_section(metrics, with_firing, with_traces)
    lines += _accuracy_section(metrics)
    lines += _figures_section(out, metrics, firing, layers, traces, neurons)
    if final_samples is not None:
        lines += _layer_section(final_samples)
    if neurons is not None:
        lines += _neuron_section(statistics.final_epoch(neurons))
    if final_samples is not None:
        lines += _operations_section(final_samples, layers)
    if traces is not None:
        lines += _spike_train_section(traces)
    lines += _missing_section(folders)
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report


def _check_distinct_names(folders: list[Path]) -> None:
    seen = {}
    for folder in folders:
        if folder.name in seen:
            raise ValueError(
                f"two run folders are named {folder.name!r} ({seen[folder.name]} and {folder}); "
                "the report tells runs apart by folder name"
            )
        seen[folder.name] = folder


def _runs_section(metrics, with_firing, with_traces) -> list[str]:
    varying = statistics.varying_settings(metrics)
    # The last epoch in metrics.csv; named apart from the setting ``epochs`` (config.json) when that is shown too.
    last_epoch = "last epoch" if "epochs" in varying else "epochs"
    per_run = metrics.groupby("run", sort=False).agg(**{last_epoch: ("epoch", "max")}).reset_index()
    per_run = per_run.merge(metrics.drop_duplicates("run")[["run", *varying]], on="run")
    recorded = {folder.name: [*FIRING_TABLES] for folder in with_firing}
    for folder in with_traces:
        recorded.setdefault(folder.name, []).append(TRACE_TABLE)
    per_run["recorded tables"] = per_run["run"].map(lambda run: ", ".join(["metrics.csv", *recorded.get(run, [])]))
    common = [
        f"{column}={metrics[column].iloc[0]}"
        for column in runs.SETTING_COLUMNS
        if column not in varying and column != "seed" and metrics[column].notna().all()
    ]
    return [
        "## Runs",
        "",
        f"Settings common to all runs: {', '.join(common) or 'none'}.",
        "",
        *_markdown(per_run),
        "",
    ]


def _accuracy_section(metrics) -> list[str]:
    final = statistics.final_test_accuracy(metrics)
    if final.empty:
        return ["## Final test accuracy", "", "No run has a test row in metrics.csv.", ""]
    table = _over_runs(final, [], {"test accuracy (%)": ("accuracy", 100, 1)})
    return [
        "## Final test accuracy",
        "",
        "At each run's last epoch; mean ± sd over runs (seeds) of each setting.",
        "",
        *_markdown(table),
        "",
    ]


def _figures_section(out, metrics, firing, layers, traces, neurons) -> list[str]:
    fig9_runs = statistics.comparable_runs(firing, "alpha") if firing is not None else None
    drawn = [
        (
            "fig6_convergence.png",
            "Fig. 6: convergence of the reward signals (runs that differ only in the signal and seed)",
            figures.convergence_figure(statistics.comparable_runs(metrics, "signal")),
            "training and test rows in metrics.csv",
        ),
        (
            "fig8_accuracy_vs_T.png",
            "Fig. 8: test accuracy against T (runs that differ only in T and seed)",
            figures.accuracy_against_T_figure(statistics.comparable_runs(metrics, "T")),
            "test accuracies at two or more values of T in runs that differ only in T and seed",
        ),
        (
            "fig9_silent_vs_input.png",
            "Fig. 9: silent neurons against input spikes (runs that differ only in alpha and seed)",
            figures.silent_against_input_figure(fig9_runs, layers) if firing is not None else None,
            "layers.csv and firing.csv in runs at two or more values of alpha that differ only in alpha and seed",
        ),
        (
            "firing_rates.png",
            "Firing-rate distribution per layer",
            figures.firing_rate_figure(firing, layers) if firing is not None else None,
            "layers.csv and firing.csv",
        ),
        (
            "neuron_rates.png",
            "Firing-rate distribution over the neurons of each layer",
            figures.neuron_rate_figure(neurons) if neurons is not None else None,
            "neurons.csv",
        ),
        (
            "isi_cv.png",
            "ISI coefficient of variation of the traced neurons",
            figures.isi_cv_figure(traces) if traces is not None else None,
            "traces.csv with a neuron that has two or more interspike intervals",
        ),
    ]
    if traces is None:
        drawn.append(("fig7_membrane.png", "Fig. 7: membrane potentials", None, "traces.csv"))
    else:
        for run in traces["run"].unique():
            name = f"fig7_membrane_{re.sub(r'[^A-Za-z0-9._=-]+', '_', run)}.png"
            caption = f"Fig. 7: membrane potentials and spikes, run {run}"
            drawn.append((name, caption, figures.membrane_traces_figure(traces, run), "traces.csv"))
    lines = ["## Figures", ""]
    for name, caption, figure, needs in drawn:
        if figure is None:
            lines += [f"- {caption}: not drawn; it needs {needs}.", ""]
            continue
        figure.savefig(out / name, dpi=PNG_DPI)
        lines += [f"### {caption}", "", f"![{caption}]({name})", ""]
    return lines


def _layer_section(samples) -> list[str]:
    per_run = statistics.layer_firing(samples)
    table = _over_runs(
        per_run,
        ["layer", "n_neurons"],
        {
            "rate (spikes / neuron / step)": ("rate", 1, 4),
            "rate (Hz)": ("rate", statistics.STEPS_PER_SECOND, 1),
            "silent neurons (%)": ("silent_fraction", 100, 1),
        },
    )
    return [
        "## Firing per layer",
        "",
        "Final epoch of each run, test samples (training samples where the epoch has no test recorded). Per run: "
        "mean over its recorded samples of the rate (spikes / (neurons x T)) and of the silent-neuron proportion "
        "(neurons without a spike in the sample); then mean ± sd over runs (seeds).",
        "",
        *_markdown(table.rename(columns={"n_neurons": "neurons"})),
        "",
    ]


def _neuron_section(neurons) -> list[str]:
    per_run = statistics.neuron_rate_summary(neurons)
    table = _over_runs(
        per_run,
        ["layer", "n_neurons"],
        {
            "mean rate (Hz)": ("rate_hz", 1, 1),
            "median neuron (Hz)": ("median_rate", statistics.STEPS_PER_SECOND, 1),
            "never fired (%)": ("never_fired", 100, 1),
            f"saturated, >= {statistics.SATURATED:g} / step (%)": ("saturated", 100, 1),
        },
    )
    return [
        "## Firing rates of the neurons",
        "",
        "Final epoch of each run, test samples (training samples where the epoch has no test recorded): each neuron's "
        "spikes per step over all the split's samples (neurons.csv), at dt = 1 ms. A network that computes by "
        "saturation has many neurons that never fire and many that fire in nearly every step. Mean ± sd over runs.",
        "",
        *_markdown(table.rename(columns={"n_neurons": "neurons"})),
        "",
    ]


def _operations_section(samples, layers) -> list[str]:
    per_sample = statistics.synaptic_operations(samples, layers)
    per_run = per_sample.groupby([*statistics.RUN_KEYS], dropna=False, sort=False)
    per_run = per_run[["snn_synaptic_ops", "ann_macs", "ratio"]].mean().reset_index()
    table = _over_runs(
        per_run,
        [],
        {
            "SNN synaptic operations / sample": ("snn_synaptic_ops", 1, 0),
            "ANN MACs / sample": ("ann_macs", 1, 0),
            "SNN / ANN": ("ratio", 1, 3),
        },
    )
    return [
        "## Synaptic operations against a dense ANN",
        "",
        "Per sample, final epoch as above. SNN: the sum over layers of spikes x fan-out, every synapse a spike reaches "
        "in any of the T steps (one addition each). ANN: the same network run as a dense ANN, one forward pass per "
        "sample, one multiply-accumulate per synapse (the sum of synapses into every layer). The SNN's events are "
        "summed over T steps, the ANN counts one pass (the paper's Table I argument). Mean ± sd over runs.",
        "",
        *_markdown(table),
        "",
    ]


def _spike_train_section(traces) -> list[str]:
    per_neuron = statistics.spike_train_statistics(traces)
    table = _over_runs(
        per_neuron,
        ["epoch", "layer"],
        {"ISI CV": ("isi_cv", 1, 3), "Fano factor": ("fano_factor", 1, 3)},
        count_title="traced neurons",
    )
    return [
        "## Spike trains of the traced neurons",
        "",
        "Per traced neuron: ISI coefficient of variation (sd / mean of its interspike intervals, pooled over its "
        "recorded samples) and Fano factor (variance / mean of its spike counts over the samples); mean ± sd over "
        "the traced neurons that have a value (Poisson: 1 and 1, regular firing: CV 0).",
        "",
        *_markdown(table),
        "",
    ]


def _missing_section(folders) -> list[str]:
    runs_lacking = {}
    for folder in folders:
        missing = tuple(name for name in (*FIRING_TABLES, TRACE_TABLE) if not (folder / name).is_file())
        if missing:
            runs_lacking.setdefault(missing, []).append(folder.name)
    if not runs_lacking:
        return []
    lines = [f"- no {', '.join(missing)}: {', '.join(names)}" for missing, names in runs_lacking.items()]
    return [
        "## Missing data",
        "",
        "layers.csv and firing.csv feed Fig. 9, the firing-rate distribution and the tables of firing and synaptic "
        "operations; traces.csv feeds Fig. 7, the ISI-CV distribution and the spike-train table. Runs without them:",
        "",
        *lines,
        "",
    ]


def _over_runs(table, keys, columns, count_title="runs") -> pd.DataFrame:
    """Mean ± sd of ``columns`` ({title: (column, scale, decimals)}) per setting and value of ``keys``, and the count
    of the table's rows that each holds (runs, or traced neurons).

    The settings are those that differ between the table's runs; rows keep the order of the settings' first
    appearance, then of the layers' depth where the table has one.
    """
    settings = statistics.varying_settings(table)
    ranked = table.assign(setting_rank=pd.factorize(statistics.setting_labels(table))[0])
    ranked = ranked.sort_values(["setting_rank", "depth"] if "depth" in ranked else ["setting_rank"], kind="stable")
    group_keys = [*settings, *keys]
    groups = ranked.groupby(group_keys, dropna=False, sort=False) if group_keys else [((), ranked)]
    rows = []
    for key, group in groups:
        row = dict(zip(group_keys, key))
        for title, (column, scale, decimals) in columns.items():
            row[title] = _mean_sd(scale * group[column], decimals)
        row[count_title] = len(group)
        rows.append(row)
    return pd.DataFrame(rows)


def _mean_sd(values: pd.Series, decimals: int) -> str:
    values = values[values.map(math.isfinite)]
    if values.empty:
        return "-"
    if len(values) == 1:
        return f"{values.iloc[0]:.{decimals}f}"
    return f"{values.mean():.{decimals}f} ± {values.std():.{decimals}f}"


def _markdown(table: pd.DataFrame) -> list[str]:
    def cell(value) -> str:
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

    rows = [[cell(value).replace("|", "\\|") for value in row] for row in table.itertuples(index=False)]
    return [
        "| " + " | ".join(map(str, table.columns)) + " |",
        "|" + "---|" * len(table.columns),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


if __name__ == "__main__":
    sys.exit(main())

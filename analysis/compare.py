"""Learning rules head to head, from run folders: one tidy table, a seaborn figure, a markdown summary.

Used by ``python -m protocols.compare``; reads config.json, metrics.csv, layers.csv, firing.csv and, where
the runs have it (``--readouts``), readouts.csv.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from analysis import readouts, statistics
from analysis.runs import load_firing, load_layers, load_metrics, read_settings

COLUMNS = ["rule", "seed", "epoch", "split", "accuracy", "hidden_rate", "synaptic_events_per_sample", "seconds"]


def comparison_table(run_dirs) -> pd.DataFrame:
    """One row per run, epoch and split: rule, seed, accuracy, the hidden layers' rate (spikes per neuron and
    step, the mean over the conv and hidden layers), synaptic events per sample (mean over the recorded
    samples: every spike times the synapses it reaches, over the T steps) and the seconds of the split."""
    run_dirs = [Path(d) for d in run_dirs]
    metrics = load_metrics(run_dirs)
    recorded = [d for d in run_dirs if (d / "firing.csv").is_file() and (d / "layers.csv").is_file()]
    events = pd.DataFrame(columns=["run", "epoch", "split", "synaptic_events_per_sample"])
    if recorded:
        samples = statistics.sample_firing(load_firing(recorded), load_layers(recorded))
        per_sample = samples.groupby(["run", "epoch", "split", "sample"])["synaptic_events"].sum()
        events = per_sample.groupby(["run", "epoch", "split"]).mean().rename("synaptic_events_per_sample").reset_index()
    seeds = {d.name: read_settings(d).get("seed") for d in run_dirs}
    table = metrics.merge(events, on=["run", "epoch", "split"], how="left")
    hidden = [c for c in table.columns if c.startswith(("rate_hidden", "rate_conv"))]
    table["hidden_rate"] = table[hidden].mean(axis=1) if hidden else float("nan")
    table["seed"] = table["run"].map(seeds)
    return table[["run", *COLUMNS]].sort_values(["rule", "seed", "epoch", "split"]).reset_index(drop=True)


def reference_accuracies(run_dirs) -> pd.DataFrame:
    """The reference readouts' test accuracy (:mod:`analysis.readouts`) at each run's last scored epoch: one
    row per run, a column per readout; empty without readouts.csv."""
    rows = []
    for run in map(Path, run_dirs):
        if (run / "readouts.csv").is_file():
            scored = pd.read_csv(run / "readouts.csv")
            last = scored[scored["epoch"] == scored["epoch"].max()].set_index("readout")["accuracy"]
            rows.append({"run": run.name} | {name: last.get(name) for name in readouts.READOUTS})
    return pd.DataFrame(rows, columns=["run", *readouts.READOUTS])


def accuracy_figure(table: pd.DataFrame) -> Figure:
    """Accuracy per epoch for every rule, train and test, mean and sd over seeds."""
    figure = Figure(figsize=(7.5, 4.4), layout="constrained")
    axes = figure.subplots()
    data = table.assign(accuracy_percent=100 * table["accuracy"])
    sns.lineplot(
        data=data, x="epoch", y="accuracy_percent", hue="rule", style="split", errorbar="sd", marker="o", ax=axes
    )
    axes.set(xlabel="epoch", ylabel="accuracy (%)", title="Learning rules: accuracy per epoch (mean ± sd over seeds)")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return figure


def final_summary(table: pd.DataFrame, references: pd.DataFrame | None = None) -> pd.DataFrame:
    """Test accuracy at each run's last epoch, its hidden rate and synaptic events per sample: mean, sd and runs
    per rule; with ``references`` (:func:`reference_accuracies`), the mean accuracy of each reference readout."""
    test = table[table["split"] == "test"]
    last = test.loc[test.groupby("run")["epoch"].idxmax()]
    references = pd.DataFrame(columns=["run", *readouts.READOUTS]) if references is None else references
    last = last.merge(references, on="run", how="left")
    summary = last.groupby("rule").agg(
        accuracy_mean=("accuracy", "mean"),
        accuracy_sd=("accuracy", "std"),
        hidden_rate=("hidden_rate", "mean"),
        events_mean=("synaptic_events_per_sample", "mean"),
        epochs=("epoch", "max"),
        runs=("run", "count"),
        **{f"{name}_mean": (name, "mean") for name in readouts.READOUTS},
    )
    return summary.reset_index().sort_values("accuracy_mean", ascending=False)


REFERENCE_HEADERS = {"labels": "Diehl & Cook labels (%)", "logistic": "logistic regression (%)"}


def markdown(summary: pd.DataFrame) -> str:
    """The summary as a markdown table; the reference readouts' columns where some run has them."""
    shown = [name for name in readouts.READOUTS if summary[f"{name}_mean"].notna().any()]
    header = "| rule | test accuracy (%) | " + "".join(f"{REFERENCE_HEADERS[name]} | " for name in shown)
    lines = [
        header + "hidden rate (spikes/neuron/step) | synaptic events / sample | epochs | seeds |",
        "|---" * (6 + len(shown)) + "|",
    ]
    for row in summary.itertuples():
        spread = "" if pd.isna(row.accuracy_sd) else f" ± {100 * row.accuracy_sd:.1f}"
        events = "" if pd.isna(row.events_mean) else f"{row.events_mean:.0f}"
        rate = "" if pd.isna(row.hidden_rate) else f"{row.hidden_rate:.3f}"
        references = "".join(
            f"{'' if pd.isna(value) else f'{100 * value:.1f}'} | "
            for value in (getattr(row, f"{name}_mean") for name in shown)
        )
        lines.append(
            f"| {row.rule} | {100 * row.accuracy_mean:.1f}{spread} | {references}{rate} | {events} | {row.epochs} "
            f"| {row.runs} |"
        )
    return "\n".join(lines) + "\n"


def write_comparison(run_dirs, out) -> dict[str, Path]:
    """comparison.csv, comparison.png and comparison.md in ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = comparison_table(run_dirs)
    paths = {"table": out / "comparison.csv", "figure": out / "comparison.png", "summary": out / "comparison.md"}
    table.to_csv(paths["table"], index=False)
    accuracy_figure(table).savefig(paths["figure"], dpi=120)
    paths["summary"].write_text(
        "# Learning rules compared\n\nFinal test accuracy, mean ± sd over seeds; where the runs were made with "
        "`--readouts`, the reference readouts fitted on the same hidden counts (analysis.readouts).\n\n"
        + markdown(final_summary(table, reference_accuracies(run_dirs)))
        + "\n![accuracy per epoch](comparison.png)\n"
    )
    return paths

"""The runs behind the README's accuracy table, kept as data in the repository, and what is drawn from them.

    python -m analysis.results keep RUN_DIR [--name NAME]   # copy a run's small tables into results/runs/
    python -m analysis.results render                        # figures and the README's table from results/runs/

``keep`` copies a run folder's config.json, metrics.csv, layers.csv (and readouts.csv where present) to
``results/runs/<protocol>/<name>/`` and summarises its firing.csv (tens of MB per run) per epoch, split and
layer into firing_summary.csv: mean spikes per neuron and step, silent proportion, synaptic events per sample.
Checkpoints, traces and per-sample tables stay out. A kept folder is never replaced.

``render`` draws ``results/figures/accuracy.png`` (test and training accuracy per epoch of every kept run, the
paper's reported accuracy where the run is on the paper's dataset) and ``results/figures/firing.png`` (mean
rate per layer and epoch on the test samples), and writes the table of kept runs between the README's
``<!-- kept runs -->`` markers. Bad input ends with one line ``python -m analysis.results: error: ...`` and
exit status 2.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis import runs, statistics
from analysis.report import _OneLineParser

PROG = "python -m analysis.results"
ROOT = Path(__file__).resolve().parent.parent
KEPT = ("config.json", "metrics.csv", "layers.csv")
OPTIONAL = ("readouts.csv",)
SUMMARY = "firing_summary.csv"
BEGIN, END = "<!-- kept runs: python -m analysis.results render -->", "<!-- end of kept runs -->"
# The paper's BRP test accuracies (Zhang et al. 2021, Tables II-V), for runs on the same data
PAPER_ACCURACY = {"mnist": 0.9901, "cifar10": 0.5708, "tidigits": 0.9486, "dvsgesture": 0.8090}
PNG_DPI = 110


class ResultsError(ValueError):
    """A run folder that cannot be kept, or a kept folder that cannot be read."""


def firing_summary(folder: Path) -> pd.DataFrame:
    """Per epoch, split and layer of a run folder's firing.csv: samples, mean rate (spikes per neuron and step),
    silent proportion (mean and sd over samples) and synaptic events per sample (spikes x fan-out)."""
    samples = statistics.sample_firing(runs.load_firing([folder]), runs.load_layers([folder]))
    keys = ["epoch", "split", "layer"]
    layers = statistics.layer_firing(samples)[[*keys, "kind", "depth", "n_neurons", "samples", "rate"]]
    silent = samples.groupby(keys, sort=False)["silent_fraction"].agg(silent_fraction="mean", silent_fraction_sd="std")
    events = samples.groupby(keys, sort=False)["synaptic_events"].mean().rename("synaptic_events_per_sample")
    table = layers.merge(silent.reset_index(), on=keys).merge(events.reset_index(), on=keys)
    return table.sort_values(["epoch", "split", "depth"], kind="stable").drop(columns="depth")


def keep(folder, into: Path, name: str | None = None) -> Path:
    """Copy ``folder``'s small tables and its firing summary to ``into/<protocol>/<name>``; return that folder."""
    folder = Path(folder)
    try:
        protocol = json.loads((folder / "config.json").read_text())["settings"]["protocol"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ResultsError(f"{folder} is not a run folder with a readable config.json ({error})") from None
    missing = [file for file in KEPT if not (folder / file).is_file()]
    if missing:
        raise ResultsError(f"{folder} lacks {', '.join(missing)}")
    name = name or folder.name
    if name in ("", ".", "..") or "/" in name:
        raise ResultsError(f"--name must be one folder name, got {name!r}")
    target = Path(into) / protocol / name
    if target.exists():
        raise ResultsError(f"{target} exists already; kept runs are never replaced (choose another --name)")
    try:
        summary = firing_summary(folder)
    except (runs.RunReadError, ValueError) as error:
        raise ResultsError(f"cannot summarise the firing of {folder}: {error}") from None
    target.mkdir(parents=True)
    for file in KEPT + tuple(f for f in OPTIONAL if (folder / f).is_file()):
        shutil.copy2(folder / file, target / file)
    summary.to_csv(target / SUMMARY, index=False, float_format="%.6g")
    return target


def kept_runs(root: Path) -> list[Path]:
    """The kept run folders under ``root`` (``<protocol>/<name>/``), in name order."""
    return sorted(path.parent for path in Path(root).glob(f"*/*/{SUMMARY}"))


def _label(folder: Path) -> str:
    return f"{folder.parent.name}/{folder.name}"


def _paper_accuracy(settings: dict) -> float | None:
    """The paper's accuracy for a run on the paper's data (TIDIGITS, not its FSDD stand-in)."""
    if settings.get("protocol") == "tidigits" and settings.get("corpus") != "tidigits":
        return None
    return PAPER_ACCURACY.get(settings.get("protocol"))


def accuracy_table(folders: list[Path]) -> pd.DataFrame:
    """One row per kept run: its settings, last and best test accuracy, and the paper's where comparable."""
    rows = []
    for folder in folders:
        settings = runs.read_settings(folder)
        test = runs.read_table(folder, "metrics.csv").query("split == 'test'")
        if test.empty:
            raise ResultsError(f"{folder}/metrics.csv has no test rows")
        last, best = test.iloc[-1], test.loc[test["accuracy"].idxmax()]
        layers = runs.read_table(folder, "layers.csv")
        rows.append(
            {
                "run": _label(folder),
                "topology": settings.get("topology"),
                "rule": settings.get("rule"),
                "signal": settings.get("signal"),
                "T": settings.get("T"),
                "lr": settings.get("lr"),
                "seed": settings.get("seed"),
                "training samples": settings.get("n_train"),
                "epochs": int(last["epoch"]),
                "test accuracy": last["accuracy"],
                "best (epoch)": f"{100 * best['accuracy']:.1f} % ({int(best['epoch'])})",
                "paper": _paper_accuracy(settings),
                "hidden rate": _hidden_rate(folder, layers),
            }
        )
    return pd.DataFrame(rows)


def _hidden_rate(folder: Path, layers: pd.DataFrame) -> float | None:
    """Mean spikes per neuron and step of the hidden layers on the test samples at the last epoch."""
    summary = pd.read_csv(folder / SUMMARY)
    hidden = summary[(summary["kind"] != "input") & (summary["kind"] != "output") & (summary["split"] == "test")]
    hidden = hidden[hidden["epoch"] == hidden["epoch"].max()]
    if hidden.empty:
        return None
    return float((hidden["rate"] * hidden["n_neurons"]).sum() / hidden["n_neurons"].sum())


def markdown(table: pd.DataFrame) -> str:
    shown = table.assign(
        **{
            "test accuracy": table["test accuracy"].map(lambda a: f"{100 * a:.1f} %"),
            "paper": table["paper"].map(lambda a: "" if pd.isna(a) else f"{100 * a:.2f} %"),
            "hidden rate": table["hidden rate"].map(lambda r: "" if pd.isna(r) else f"{r:.3f}"),
            "run": table["run"].map(lambda run: f"`{run}`"),
            "topology": table["topology"].map(lambda t: f"`{t}`"),
        }
    )
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines)


def accuracy_figure(folders: list[Path]) -> Figure:
    """Test and training accuracy per epoch, one panel per kept run, the paper's accuracy dashed."""
    metrics = pd.concat(
        [runs.read_table(f, "metrics.csv").assign(run=_label(f)) for f in folders], ignore_index=True
    ).query("split in ['train', 'test']")
    figure = _panels(len(folders))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        for axes, folder in zip(figure.axes, folders):
            data = metrics[metrics["run"] == _label(folder)].assign(accuracy=lambda t: 100 * t["accuracy"])
            sns.lineplot(data=data, x="epoch", y="accuracy", hue="split", marker="o", ax=axes)
            paper = _paper_accuracy(runs.read_settings(folder))
            if paper is not None:
                axes.axhline(100 * paper, color="0.3", linestyle="--", label="paper")
                axes.legend()
            axes.set(title=_label(folder), ylabel="accuracy (%)")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def firing_figure(folders: list[Path]) -> Figure:
    """Mean spikes per neuron and step of each layer per epoch on the test samples, one panel per kept run."""
    figure = _panels(len(folders))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        for axes, folder in zip(figure.axes, folders):
            summary = pd.read_csv(folder / SUMMARY).query("split == 'test'")
            sns.lineplot(data=summary, x="epoch", y="rate", hue="layer", marker="o", ax=axes)
            axes.set(title=_label(folder), ylabel="spikes / neuron / step", ylim=(0, None))
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def _panels(n: int, columns: int = 3) -> Figure:
    rows = -(-n // columns)
    figure = Figure(figsize=(5.2 * min(n, columns), 3.8 * rows), layout="constrained")
    axes = figure.subplots(rows, min(n, columns), squeeze=False).ravel()
    for extra in axes[n:]:
        figure.delaxes(extra)
    return figure


def render(root: Path, figures: Path, readme: Path | None) -> dict[str, Path]:
    """Figures of the kept runs under ``root`` into ``figures``, and their table into ``readme``'s block."""
    folders = kept_runs(root)
    if not folders:
        raise ResultsError(f"{root} holds no kept runs (python -m analysis.results keep RUN_DIR)")
    figures.mkdir(parents=True, exist_ok=True)
    written = {"accuracy": figures / "accuracy.png", "firing": figures / "firing.png"}
    accuracy_figure(folders).savefig(written["accuracy"], dpi=PNG_DPI)
    firing_figure(folders).savefig(written["firing"], dpi=PNG_DPI)
    table = markdown(accuracy_table(folders))
    (figures / "kept_runs.md").write_text(table + "\n")
    written["table"] = figures / "kept_runs.md"
    if readme is not None:
        text = readme.read_text()
        if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
            raise ResultsError(f"{readme} needs one '{BEGIN}' line and one '{END}' line after it")
        head, rest = text.split(BEGIN)
        readme.write_text(f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}")
        written["readme"] = readme
    return written


def main(argv=None) -> int:
    parser = _OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keeping = commands.add_parser("keep", help="copy run folders' small tables into the kept runs")
    keeping.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    keeping.add_argument("--name", help="the kept folder's name (one run only; default: the run folder's)")
    keeping.add_argument("--into", type=Path, default=ROOT / "results" / "runs")
    rendering = commands.add_parser("render", help="figures and the README table of the kept runs")
    rendering.add_argument("--runs", type=Path, default=ROOT / "results" / "runs")
    rendering.add_argument("--figures", type=Path, default=ROOT / "results" / "figures")
    rendering.add_argument("--readme", type=Path, default=ROOT / "README.md", help="'none': no README update")
    args = parser.parse_args(argv)
    try:
        if args.command == "keep":
            if args.name and len(args.run_dirs) > 1:
                raise ResultsError("--name names one kept run; give one RUN_DIR with it")
            for folder in args.run_dirs:
                print(f"kept {folder} as {keep(folder, args.into, args.name)}")
        else:
            readme = None if str(args.readme) == "none" else args.readme
            for path in render(args.runs, args.figures, readme).values():
                print(f"wrote {path}")
    except (ResultsError, runs.RunReadError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Figures (analysis.figures) and the report command (analysis.report) on synthetic run folders."""

import re
import statistics as stats
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.colors import to_hex
from test_statistics import ANN_MACS, NEURON_RATES, SILENT_HIDDEN, write_run

from analysis import figures, report, runs

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "python -m analysis.report: error: "
SIGNAL_ACCURACY = {"label": (0.80, 0.90), "error": (0.70, 0.74), "sign": (0.60, 0.66)}
T_ACCURACY = {5: (0.50, 0.60), 20: (0.92, 0.94)}
ALL_FIGURES = [
    "fig6_convergence.png",
    "fig8_accuracy_vs_T.png",
    "fig9_silent_vs_input.png",
    "firing_rates.png",
    "neuron_rates.png",
    "isi_cv.png",
    "fig7_membrane_label_s0.png",
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A signal grid, a T grid and an alpha grid over seeds 0 and 1 (sharing T = 10, alpha = 1, label), one run with
    traces, and an older run with only metrics.csv and no alpha in its config."""
    root = tmp_path_factory.mktemp("runs")
    folders = []
    for signal, accuracies in SIGNAL_ACCURACY.items():
        for seed, accuracy in enumerate(accuracies):
            traced = signal == "label" and seed == 0
            folders.append(
                write_run(root / f"{signal}_s{seed}", signal=signal, seed=seed, test_accuracy=accuracy, traces=traced)
            )
    for T, accuracies in T_ACCURACY.items():
        for seed, accuracy in enumerate(accuracies):
            folders.append(write_run(root / f"T{T}_s{seed}", T=T, seed=seed, test_accuracy=accuracy))
    for alpha in (2.0, 4.0):
        for seed in (0, 1):
            folders.append(write_run(root / f"alpha{alpha:g}_s{seed}", alpha=alpha, seed=seed, test_accuracy=0.75))
    folders.append(write_run(root / "old", rule="bp", test_accuracy=0.55, firing=False, legacy_config=True))
    return folders


@pytest.fixture(scope="module")
def written(sweep, tmp_path_factory):
    """The report of the whole sweep, made by the command in its own process, into a folder that holds a file."""
    out = tmp_path_factory.mktemp("report")
    (out / "notes.txt").write_text("mine")
    command = [sys.executable, "-m", "analysis.report", *map(str, sweep), "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return out, result


def table_rows(markdown: str, heading: str) -> list[str]:
    """The table lines of a section of report.md."""
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ")]


def test_report_command_writes_every_figure_and_keeps_other_files(written):
    out, result = written
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == str(out / "report.md")
    for name in ALL_FIGURES:
        assert (out / name).stat().st_size > 10_000, name
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in (out / "report.md").read_text()
    assert (out / "notes.txt").read_text() == "mine"


def test_report_accuracy_per_setting(written):
    markdown = (written[0] / "report.md").read_text()
    rows = table_rows(markdown, "Final test accuracy")
    assert rows[0] == "| rule | signal | T | alpha | neuron_model | test accuracy (%) | runs |"
    label = f"{(80 + 90) / 2:.1f} ± {stats.stdev([80, 90]):.1f}"
    assert f"| brp | label | 10 | 1.0 | lif | {label} | 2 |" in rows
    t20 = f"{(92 + 94) / 2:.1f} ± {stats.stdev([92, 94]):.1f}"
    assert f"| brp | label | 20 | 1.0 | lif | {t20} | 2 |" in rows
    assert "| bp | label | 10 | - | - | 55.0 | 1 |" in rows
    assert len(rows) == 1 + 3 + 2 + 2 + 1  # header, signals, other T, other alpha, older run


def test_report_silent_neurons_and_rates_per_layer(written):
    rows = table_rows((written[0] / "report.md").read_text(), "Firing per layer")
    assert (
        rows[0]
        == "| signal | T | alpha | layer | neurons | rate (spikes / neuron / step) | rate (Hz) | silent neurons (%) "
        "| runs |"
    )
    hidden_rate = (10 + 12 + 14 + 16) / 4 / (8 * 10)
    for alpha, silent in SILENT_HIDDEN.items():
        expected = (
            f"| label | 10 | {alpha} | hidden1 | 8 | {hidden_rate:.4f} ± 0.0000 | {1000 * hidden_rate:.1f} ± 0.0 "
            f"| {100 * silent / 8:.1f} ± 0.0 | 2 |"
        )
        assert expected in rows
    input_rate = 0.4 / 4
    assert f"| label | 10 | 4.0 | input | 20 | {input_rate:.4f} ± 0.0000 | 100.0 ± 0.0 | 20.0 ± 0.0 | 2 |" in rows
    layers_of_first_setting = [row.split(" | ")[3] for row in rows[1:4]]
    assert layers_of_first_setting == ["input", "hidden1", "output"]


def test_report_rates_of_the_neurons(written):
    """neurons.csv at the final epoch: mean and median neuron in Hz, neurons that never fired, saturated neurons."""
    rows = table_rows((written[0] / "report.md").read_text(), "Firing rates of the neurons")
    assert rows[0] == (
        "| signal | T | alpha | layer | neurons | mean rate (Hz) | median neuron (Hz) | never fired (%) "
        "| saturated, >= 0.9 / step (%) | runs |"
    )
    hidden = NEURON_RATES["hidden1"]
    mean, median = 1000 * stats.mean(hidden), 1000 * stats.median(hidden)
    cells = ["label", "10", "1.0", "hidden1", "8", f"{mean:.1f} ± 0.0", f"{median:.1f} ± 0.0", *["25.0 ± 0.0"] * 2]
    assert "| " + " | ".join(cells) + " | 2 |" in rows
    assert "| label | 10 | 1.0 | input | 20 | 400.0 ± 0.0 | 500.0 ± 0.0 | 20.0 ± 0.0 | 0.0 ± 0.0 | 2 |" in rows


def test_report_tells_apart_activity_controls(tmp_path):
    """Runs with and without homeostasis (or adaptation) are distinct settings; a config.json from before these
    options reads as the run without them, and a target rate is no setting of a run without homeostasis."""
    before = write_run(tmp_path / "before", test_accuracy=0.9, target_rate=10.0)
    older = write_run(tmp_path / "older", seed=1, test_accuracy=0.9)
    after = write_run(
        tmp_path / "after", test_accuracy=0.88, homeostasis=0.002, target_rate=20.0, hidden_rate_scale=0.1
    )
    markdown = report.write_report([before, older, after], tmp_path / "out").read_text()
    rows = table_rows(markdown, "Firing rates of the neurons")
    assert rows[0].startswith("| homeostasis | target_rate | layer |")
    mean = 1000 * stats.mean(NEURON_RATES["hidden1"])
    assert f"| 0.0 | - | hidden1 | 8 | {mean:.1f} ± 0.0 |" in "\n".join(rows)
    assert f"| 0.002 | 20.0 | hidden1 | 8 | {mean / 10:.1f} | {250 / 10:.1f} | 25.0 | 0.0 | 1 |" in rows
    accuracy = table_rows(markdown, "Final test accuracy")
    assert "| 0.0 | - | 90.0 ± 0.0 | 2 |" in accuracy and "| 0.002 | 20.0 | 88.0 | 1 |" in accuracy


def test_report_reads_switches_missing_from_older_configs_as_off_with_their_type(tmp_path):
    """A config.json from before --winners, --receptive-field, --active-fraction, --decision-neurons reads as the
    run without them: integer settings as 0, the others as 0.0, as a newer config.json writes them."""
    older = write_run(tmp_path / "older", test_accuracy=0.9)
    newer = write_run(tmp_path / "newer", seed=1, winners=0, receptive_field=0, active_fraction=0.0, decision_neurons=0)
    markdown = report.write_report([older, newer], tmp_path / "out").read_text()
    (line,) = [line for line in markdown.splitlines() if line.startswith("Settings common to all runs: ")]
    common = line.removeprefix("Settings common to all runs: ").rstrip(".").split(", ")
    assert {"winners=0", "receptive_field=0", "decision_neurons=0", "active_fraction=0.0"} <= set(common), common
    assert "homeostasis=0.0" in common, common


def test_report_synaptic_operations_against_ann_macs(written):
    rows = table_rows((written[0] / "report.md").read_text(), "Synaptic operations against a dense ANN")
    hidden_events = 3 * (10 + 12 + 14 + 16) / 4
    for T, alpha in [(10, 1.0), (5, 1.0), (20, 1.0), (10, 4.0)]:
        snn = 0.4 / alpha * 20 * T * 8 + hidden_events
        expected = f"| label | {T} | {alpha} | {snn:.0f} ± 0 | {ANN_MACS} ± 0 | {snn / ANN_MACS:.3f} ± 0.000 | 2 |"
        assert expected in rows
    assert "| label | 10 | 1.0 | 679 ± 0 | 184 ± 0 | 3.690 ± 0.000 | 2 |" in rows


def test_report_spike_train_statistics(written):
    rows = table_rows((written[0] / "report.md").read_text(), "Spike trains of the traced neurons")
    # output #1: intervals 2, 1, 4 (CV sqrt(14/9)/(7/3)); counts 4, 1, 0 (Fano (26/9)/(5/3))
    cv, fano = (14 / 9) ** 0.5 / (7 / 3), (26 / 9) / (5 / 3)
    assert rows[0] == "| epoch | layer | ISI CV | Fano factor | traced neurons |"
    for epoch in (1, 2):
        assert f"| {epoch} | hidden1 | 0.000 | 0.000 | 1 |" in rows
        assert f"| {epoch} | output | {cv:.3f} | {fano:.3f} | 1 |" in rows


def test_report_names_missing_tables(written):
    markdown = (written[0] / "report.md").read_text()
    missing = markdown.split("## Missing data\n", 1)[1]
    assert "- no layers.csv, firing.csv, traces.csv: old\n" in missing
    without_traces = [f"{signal}_s{seed}" for signal in SIGNAL_ACCURACY for seed in (0, 1)][1:]
    without_traces += [f"T{T}_s{seed}" for T in T_ACCURACY for seed in (0, 1)]
    without_traces += [f"alpha{alpha}_s{seed}" for alpha in (2, 4) for seed in (0, 1)]
    assert f"- no traces.csv: {', '.join(without_traces)}\n" in missing


def test_report_of_older_runs_draws_figures_6_and_8(tmp_path):
    folders = [write_run(tmp_path / f"old{T}", T=T, firing=False, legacy_config=True) for T in (5, 10)]
    out = tmp_path / "out"
    assert report.main([*map(str, folders), "--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == [
        "fig6_convergence.png",
        "fig8_accuracy_vs_T.png",
        "report.md",
    ]
    markdown = (out / "report.md").read_text()
    assert (
        "- Fig. 9: silent neurons against input spikes (runs that differ only in alpha and seed): not drawn" in markdown
    )
    assert "- Fig. 7: membrane potentials: not drawn; it needs traces.csv." in markdown
    assert "- no layers.csv, firing.csv, traces.csv: old5, old10" in markdown
    assert "## Firing per layer" not in markdown


def test_convergence_figure(sweep):
    figure = figures.convergence_figure(runs.load_table(sweep[:6], "metrics.csv"))
    (ax,) = figure.axes
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "accuracy (%)"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert {"TP_BRP (label)", "TP_err (error)", "TP_sign (sign)", "train", "test"} <= set(legend)


def test_accuracy_against_T_figure(sweep):
    metrics = runs.load_table(sweep, "metrics.csv")
    figure = figures.accuracy_against_T_figure(metrics[metrics["signal"] == "label"])
    assert figure.axes[0].get_xlabel() == "time window T (steps of 1 ms)"
    assert figures.accuracy_against_T_figure(metrics[metrics["T"] == 10]) is None


def test_silent_against_input_figure(sweep):
    firing, layers = runs.load_firing(sweep[:-1]), runs.load_layers(sweep[:-1])
    (ax,) = figures.silent_against_input_figure(firing, layers).axes
    assert ax.get_xlabel().startswith("input spikes (%")
    assert {"hidden1", "output", "half of the neurons"} <= {text.get_text() for text in ax.get_legend().get_texts()}
    assert figures.silent_against_input_figure(firing[firing["alpha"] == 1.0], layers) is None


def test_firing_rate_figure(sweep):
    figure = figures.firing_rate_figure(runs.load_firing(sweep[:2]), runs.load_layers(sweep[:2]))
    assert [tick.get_text() for tick in figure.axes[0].get_xticklabels()] == ["input", "hidden1", "output"]


def test_report_tells_apart_runs_of_other_lengths_and_sample_limits(tmp_path):
    folders = [
        write_run(tmp_path / f"long_s{seed}", seed=seed, test_accuracy=accuracy, epochs=3, limit_train=20000)
        for seed, accuracy in enumerate((0.90, 0.94))
    ]
    folders.append(write_run(tmp_path / "short", test_accuracy=0.70, epochs=1, limit_train=10000))
    folders.append(write_run(tmp_path / "fewer", test_accuracy=0.60, epochs=3, limit_train=2000))
    markdown = report.write_report(folders, tmp_path / "out").read_text()
    rows = table_rows(markdown, "Final test accuracy")
    assert rows[0] == "| epochs | limit_train | test accuracy (%) | runs |"
    assert rows[1:] == [
        f"| 3 | 20000 | {92:.1f} ± {stats.stdev([90, 94]):.1f} | 2 |",
        "| 1 | 10000 | 70.0 | 1 |",
        "| 3 | 2000 | 60.0 | 1 |",
    ]
    runs_rows = table_rows(markdown, "Runs")
    assert runs_rows[0] == "| run | last epoch | epochs | limit_train | recorded tables |"
    assert runs_rows[3].startswith("| short | 2 | 1 | 10000 |")
    assert len(table_rows(markdown, "Firing per layer")) == 1 + 3 * 3
    equal = report.write_report(folders[:2], tmp_path / "equal").read_text()
    assert "epochs=3, limit_train=20000" in equal
    assert table_rows(equal, "Final test accuracy")[0] == "| test accuracy (%) | runs |"
    assert table_rows(equal, "Runs")[0] == "| run | epochs | recorded tables |"


def test_membrane_traces_figure_has_a_row_per_layer_and_a_column_per_epoch(sweep):
    traces = runs.load_traces(sweep[:1])
    figure = figures.membrane_traces_figure(traces)
    grid = figure.axes[0].get_subplotspec().get_gridspec()
    assert (grid.nrows, grid.ncols) == (2, 2)
    assert [ax.get_title().split(":")[0] for ax in figure.axes] == [
        "hidden1, epoch 1 (early)",
        "hidden1, epoch 2 (late)",
        "output, epoch 1 (early)",
        "output, epoch 2 (late)",
    ]
    assert [ax.get_ylabel() for ax in figure.axes] == ["membrane potential v (mV)", "", "membrane potential v (mV)", ""]
    assert [ax.get_xlabel() for ax in figure.axes[2:]] == ["time in the sample (ms)"] * 2
    assert figure.axes[0].get_shared_x_axes().joined(figure.axes[0], figure.axes[3])
    assert figure.axes[0].lines[-1].get_ydata()[0] == 0.5 and figure.axes[0].lines[-1].get_linestyle() == "--"
    # Spikes sit on the neuron's own trace (v_mV = 0 at the synthetic spike steps 4 and 9, drawn at 5 and 10 ms).
    (line, _), (markers,) = figure.axes[0].lines, figure.axes[0].collections
    assert markers.get_offsets().tolist() == [[5, 0.0], [10, 0.0]]
    assert to_hex(markers.get_facecolor()[0]) == to_hex(line.get_color())
    legends = [ax.get_legend() for ax in figure.axes]
    assert legends[0] is None and legends[2] is None
    assert [text.get_text() for text in legends[1].get_texts()] == ["#0", "spike", "threshold 0.5 mV"]
    assert [text.get_text() for text in legends[3].get_texts()] == ["#1", "spike", "threshold 0.5 mV"]


def test_membrane_traces_figure_keeps_the_layer_order_and_colours_neurons_apart(sweep):
    traces = runs.load_traces(sweep[:1])
    output = traces[traces["layer"] == "output"]
    many = [output.assign(neuron=neuron, v_mV=output["v_mV"] + neuron) for neuron in range(12)]
    hidden = traces[traces["layer"] == "hidden1"].assign(layer="z_hidden")
    traces = pd.concat([hidden, *many], ignore_index=True)
    figure = figures.membrane_traces_figure(traces)
    assert [ax.get_title().split(",")[0] for ax in figure.axes] == ["z_hidden"] * 2 + ["output"] * 2
    output_panel = figure.axes[2]
    colours = [to_hex(line.get_color()) for line in output_panel.lines[:-1]]
    assert len(colours) == 10 and len(set(colours)) == 10
    labels = [text.get_text() for text in figure.axes[3].get_legend().get_texts()]
    assert labels == [f"#{neuron}" for neuron in range(10)] + ["spike", "threshold 0.5 mV"]
    for line, markers in zip(output_panel.lines, output_panel.collections):
        x, y = line.get_data()
        on_trace = dict(zip(x.tolist(), y.tolist()))
        assert all(on_trace[t] == v for t, v in markers.get_offsets().tolist())
        assert to_hex(markers.get_facecolor()[0]) == to_hex(line.get_color())


def test_membrane_traces_and_isi_figures(sweep):
    traces = runs.load_traces(sweep[:1])
    assert figures.membrane_traces_figure(traces, threshold_mV=1.5).axes[0].lines[-1].get_ydata()[0] == 1.5
    assert figures.isi_cv_figure(traces) is not None
    assert figures.membrane_traces_figure(traces.iloc[:0]) is None
    single_intervals = traces[(traces["layer"] == "hidden1") & (traces["sample"] == 0)]
    assert figures.isi_cv_figure(single_intervals) is None


def run_report(capsys, *argv):
    status = report.main([*map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.err


def test_missing_folder(tmp_path, capsys):
    status, err = run_report(capsys, tmp_path / "nope", "--out", tmp_path / "out")
    assert status == 2 and err == f"{PREFIX}{tmp_path / 'nope'}: no such folder\n"


def test_not_a_run_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    status, err = run_report(capsys, tmp_path / "empty", "--out", tmp_path / "out")
    assert status == 2 and err == f"{PREFIX}{tmp_path / 'empty'} is not a run folder (no config.json)\n"


@pytest.mark.parametrize(
    ("table", "text", "message"),
    [
        ("firing.csv", 'epoch,split\n"1,train\n', "cannot read .*firing.csv: ParserError"),
        ("metrics.csv", "epoch\n1\n", "metrics.csv lacks the columns split, accuracy"),
        ("traces.csv", "", "cannot read .*traces.csv: EmptyDataError"),
        ("layers.csv", "layer,kind,n_neurons,fan_out,synapses_in\ninput,input,20,8,0\n", "names layer 'hidden1'"),
    ],
)
def test_unreadable_table(tmp_path, capsys, table, text, message):
    folder = write_run(tmp_path / "run", traces=True)
    (folder / table).write_text(text)
    status, err = run_report(capsys, folder, "--out", tmp_path / "out")
    assert status == 2 and err.count("\n") == 1 and err.startswith(PREFIX)
    assert re.search(message, err)
    assert not (tmp_path / "out").exists()


def test_two_runs_with_one_name(tmp_path, capsys):
    folders = [write_run(tmp_path / parent / "seed=0") for parent in ("a", "b")]
    status, err = run_report(capsys, *folders, "--out", tmp_path / "out")
    assert status == 2 and err.startswith(f"{PREFIX}two run folders are named 'seed=0'") and err.count("\n") == 1


def test_out_is_a_file(tmp_path, capsys):
    (tmp_path / "out").write_text("")
    status, err = run_report(capsys, write_run(tmp_path / "run"), "--out", tmp_path / "out")
    assert status == 2 and err.startswith(PREFIX) and "File exists" in err and err.count("\n") == 1


def test_no_run_folder_given(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        report.main(["--out", str(tmp_path)])
    assert stop.value.code == 2
    assert capsys.readouterr().err == f"{PREFIX}the following arguments are required: RUN_DIR\n"


def test_error_from_the_command_line(tmp_path):
    command = [sys.executable, "-m", "analysis.report", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == f"{PREFIX}{tmp_path / 'nope'}: no such folder\n"
    assert result.stdout == ""

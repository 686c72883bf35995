"""Firing statistics of saved runs (analysis.statistics and the loaders of analysis.runs) on synthetic run folders.

``write_run`` writes a run folder in the schema of the protocols (config.json, metrics.csv, layers.csv, firing.csv,
neurons.csv and traces.csv) for a 20-8-3 network whose firing is set by hand; tests/test_report.py uses it too.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis import runs, statistics

LAYERS = [
    {"layer": "input", "kind": "input", "n_neurons": 20, "fan_out": 8, "synapses_in": 0},
    {"layer": "hidden1", "kind": "dense", "n_neurons": 8, "fan_out": 3, "synapses_in": 160},
    {"layer": "output", "kind": "output", "n_neurons": 3, "fan_out": 0, "synapses_in": 24},
]
ANN_MACS = 160 + 24
SAMPLES = 4
SILENT_HIDDEN = {1.0: 3, 2.0: 5, 4.0: 6}  # hidden neurons without a spike in every sample, by alpha
ACTIVE_INPUT, ACTIVE_OUTPUT = 16, 2
# Each neuron's rate (spikes per step) at the last epoch in neurons.csv; at the first epoch every neuron has 0.5.
NEURON_RATES = {
    "input": [0.0] * 4 + [0.5] * 16,
    "hidden1": [0.0, 0.0, 0.95, 0.9, 0.5, 0.1, 0.2, 0.3],
    "output": [0.1, 0.2, 0.3],
}
# Traced spike steps (T = 10) per sample 0, 1, 2 of hidden1 #0 (regular) and output #1 (irregular).
TRACED_SPIKES = {("hidden1", 0): [[4, 9], [4, 9], [4, 9]], ("output", 1): [[1, 3, 4, 8], [0], []]}


def input_spikes(alpha, T):
    """Input spikes per sample: 40 % of the 20 input neurons x T steps at alpha = 1 (eq. 3: intensity / alpha)."""
    return round(0.4 / alpha * 20 * T)


def hidden_spikes(sample):
    return 10 + 2 * sample


def output_spikes(sample):
    return 4 + sample


def write_run(
    folder,
    *,
    signal="label",
    T=10,
    alpha=1.0,
    seed=0,
    test_accuracy=0.8,
    rule="brp",
    firing=True,
    traces=False,
    legacy_config=False,
    hidden_rate_scale=1.0,
    **extra_settings,
):
    """A run folder of two epochs; ``legacy_config``: a config without alpha and neuron, as older runs wrote;
    ``hidden_rate_scale`` scales hidden1's rates in neurons.csv; ``extra_settings``: more keys of config.json's
    settings (say epochs or limit_train)."""
    folder.mkdir(parents=True)
    settings = {
        "protocol": "digits",
        "rule": rule,
        "signal": signal,
        "form": "code",
        "topology": "FC_8_FC_3",
        "T": T,
        "alpha": alpha,
        "neuron": "lif",
        "v_th_mV": 0.5,
        "lr": 0.001,
        "batch_size": 10,
        "optimizer": "adam",
        "seed": seed,
        "n_train": 40,
        "n_test": 20,
    }
    settings.update(extra_settings)
    if legacy_config:
        del settings["alpha"], settings["neuron"], settings["v_th_mV"]
    (folder / "config.json").write_text(json.dumps({"settings": settings, "environment": {"python": "3.12"}}))
    metrics = [
        {"epoch": epoch, "split": split, "accuracy": accuracy, "n_samples": 40 if split == "train" else 20}
        for epoch, split, accuracy in [
            (1, "train", test_accuracy - 0.3),
            (1, "test", test_accuracy - 0.2),
            (2, "train", test_accuracy - 0.1),
            (2, "test", test_accuracy),
        ]
    ]
    pd.DataFrame(metrics).to_csv(folder / "metrics.csv", index=False)
    if firing:
        pd.DataFrame(LAYERS).to_csv(folder / "layers.csv", index=False)
        rows = []
        for epoch in (1, 2):
            for split in ("train", "test"):
                for sample in range(SAMPLES):
                    firing_of_layer = {
                        "input": (input_spikes(alpha, T), ACTIVE_INPUT),
                        "hidden1": (hidden_spikes(sample), 8 - SILENT_HIDDEN[alpha]),
                        "output": (output_spikes(sample), ACTIVE_OUTPUT),
                    }
                    for layer, (spikes, active) in firing_of_layer.items():
                        rows.append(
                            {
                                "epoch": epoch,
                                "split": split,
                                "sample": sample,
                                "label": sample % 3,
                                "layer": layer,
                                "spikes": spikes,
                                "active": active,
                            }
                        )
        pd.DataFrame(rows).to_csv(folder / "firing.csv", index=False)
        rows = [
            {"epoch": epoch, "split": split, "layer": layer, "neuron": neuron, "rate": rate}
            for epoch in (1, 2)
            for split in ("train", "test")
            for layer, rates in NEURON_RATES.items()
            for neuron, final in enumerate(rates)
            for rate in [(final * (hidden_rate_scale if layer == "hidden1" else 1)) if epoch == 2 else 0.5]
        ]
        pd.DataFrame(rows).to_csv(folder / "neurons.csv", index=False)
    if traces:
        rows = []
        for epoch in (1, 2):
            for (layer, neuron), trains in TRACED_SPIKES.items():
                for sample, train in enumerate(trains):
                    for step in range(T):
                        spike = int(step in train)
                        v_mV = 0.0 if spike else 0.1 * (step % 5 + 1)
                        rows.append(
                            {
                                "epoch": epoch,
                                "split": "train",
                                "sample": sample,
                                "layer": layer,
                                "neuron": neuron,
                                "step": step,
                                "v_mV": v_mV,
                                "spike": spike,
                            }
                        )
        pd.DataFrame(rows).to_csv(folder / "traces.csv", index=False)
    return folder


def load(*folders):
    return runs.load_firing(folders), runs.load_layers(folders)


def hidden_rows(table, alpha=None):
    rows = table[table["layer"] == "hidden1"]
    return rows if alpha is None else rows[rows["alpha"] == alpha]


def test_loaders_add_settings_and_keep_the_neuron_index(tmp_path):
    folders = [write_run(tmp_path / "a", alpha=2.0, traces=True), write_run(tmp_path / "b", T=20, seed=1)]
    firing = runs.load_firing(folders)
    assert len(firing) == 2 * 2 * 2 * SAMPLES * 3
    assert set(firing["run"]) == {"a", "b"} and set(firing["alpha"]) == {1.0, 2.0} and set(firing["T"]) == {10, 20}
    assert set(firing["neuron_model"]) == {"lif"}
    layers = runs.load_layers(folders)
    assert list(layers.loc[layers["run"] == "a", "layer"]) == ["input", "hidden1", "output"]
    traces = runs.load_traces(folders[:1])
    assert set(traces["neuron"]) == {0, 1} and set(traces["neuron_model"]) == {"lif"}


def test_load_metrics_keeps_its_columns(tmp_path):
    metrics = runs.load_metrics([write_run(tmp_path / "a", test_accuracy=0.9)])
    assert "alpha" not in metrics and metrics["T"].eq(10).all()
    assert runs.final_accuracy(metrics)["mean"].item() == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda folder: folder.rename(folder.with_name("gone")), "no such folder"),
        (lambda folder: (folder / "config.json").unlink(), "not a run folder"),
        (lambda folder: (folder / "config.json").write_text("{not json"), "cannot read .*config.json"),
        (lambda folder: (folder / "config.json").write_text('{"environment": {}}'), "KeyError"),
        (lambda folder: (folder / "firing.csv").unlink(), "has no firing.csv"),
        (lambda folder: (folder / "firing.csv").write_text(""), "EmptyDataError"),
        (lambda folder: (folder / "firing.csv").write_text('a,b\n"1,2\n'), "ParserError"),
        (lambda folder: (folder / "firing.csv").write_bytes(b"\xff\xfe\x00\x81"), "cannot read"),
        (lambda folder: (folder / "firing.csv").write_text("epoch,split\n1,train\n"), "lacks the columns sample"),
        (
            lambda folder: (folder / "firing.csv").write_text(
                "epoch,split,sample,label,layer,spikes,active\n1,train,0,0,input,many,3\n"
            ),
            "non-numeric values in the columns spikes",
        ),
    ],
)
def test_unreadable_run_folders(tmp_path, damage, message):
    folder = write_run(tmp_path / "a")
    damage(folder)
    with pytest.raises(runs.RunReadError, match=message):
        runs.load_firing([folder])


def test_sample_firing_rate_silent_fraction_and_events(tmp_path):
    samples = statistics.sample_firing(*load(write_run(tmp_path / "a", alpha=2.0)))
    one = samples[(samples["epoch"] == 2) & (samples["split"] == "test") & (samples["sample"] == 1)].set_index("layer")
    assert one.loc["input", "rate"] == pytest.approx(40 / (20 * 10))
    assert one.loc["hidden1", "rate"] == pytest.approx(12 / (8 * 10))
    assert one.loc["hidden1", "silent_fraction"] == pytest.approx(5 / 8)
    assert one.loc["output", "silent_fraction"] == pytest.approx(1 / 3)
    assert one.loc["hidden1", "synaptic_events"] == 12 * 3
    assert one.loc["output", "synaptic_events"] == 0
    assert list(one["depth"]) == [0, 1, 2]


def test_layer_firing_means_over_samples(tmp_path):
    per_layer = statistics.layer_firing(statistics.sample_firing(*load(write_run(tmp_path / "a"))))
    assert len(per_layer) == 2 * 2 * 3
    hidden = hidden_rows(per_layer).iloc[0]
    assert hidden["samples"] == SAMPLES
    assert hidden["rate"] == pytest.approx((10 + 12 + 14 + 16) / 4 / 80)
    assert hidden["silent_fraction"] == pytest.approx(3 / 8)
    assert hidden["silent_fraction_sd"] == 0


def test_synaptic_operations_against_ann_macs(tmp_path):
    firing, layers = load(write_run(tmp_path / "a"))
    operations = statistics.synaptic_operations(statistics.sample_firing(firing, layers), layers)
    assert len(operations) == 2 * 2 * SAMPLES
    last = operations[(operations["epoch"] == 2) & (operations["split"] == "test")].set_index("sample")
    for sample in range(SAMPLES):
        snn = 80 * 8 + (10 + 2 * sample) * 3 + (4 + sample) * 0
        assert last.loc[sample, "snn_synaptic_ops"] == snn
        assert last.loc[sample, "ann_macs"] == ANN_MACS
        assert last.loc[sample, "ratio"] == pytest.approx(snn / ANN_MACS)


def test_every_neuron_firing_at_every_step_costs_T_forward_passes(tmp_path):
    firing, layers = load(write_run(tmp_path / "a", T=7))
    n_neurons = {layer["layer"]: layer["n_neurons"] for layer in LAYERS}
    firing = firing.assign(spikes=firing["layer"].map(n_neurons) * 7, active=firing["layer"].map(n_neurons))
    samples = statistics.sample_firing(firing, layers)
    assert samples["rate"].eq(1).all() and samples["silent_fraction"].eq(0).all()
    operations = statistics.synaptic_operations(samples, layers)
    assert operations["ratio"].eq(7).all()


def test_firing_of_a_layer_missing_from_layers_csv(tmp_path):
    firing, layers = load(write_run(tmp_path / "a"))
    with pytest.raises(ValueError, match="names layer 'hidden1', which its layers.csv lacks"):
        statistics.sample_firing(firing, layers[layers["layer"] != "hidden1"])


def test_silent_neurons_against_input_spikes(tmp_path):
    folders = [write_run(tmp_path / f"alpha{alpha}", alpha=alpha) for alpha in (1.0, 2.0, 4.0)]
    table = statistics.silent_against_input(statistics.sample_firing(*load(*folders)))
    assert set(table["layer"]) == {"hidden1", "output"}
    assert set(table["split"]) == {"test"} and set(table["epoch"]) == {2}
    for alpha, proportion in [(1.0, 0.4), (2.0, 0.2), (4.0, 0.1)]:
        hidden = hidden_rows(table, alpha).iloc[0]
        assert hidden["input_spike_proportion"] == pytest.approx(proportion)
        assert hidden["silent_fraction"] == pytest.approx(SILENT_HIDDEN[alpha] / 8)
    assert table.loc[table["layer"] == "output", "silent_fraction"].to_numpy() == pytest.approx([1 / 3] * 3)


def test_final_epoch_prefers_the_test_split():
    table = pd.DataFrame(
        {
            "run": ["a", "a", "a", "b", "b", "b"],
            "epoch": [1, 2, 2, 1, 3, 3],
            "split": ["test", "train", "test", "test", "train", "train"],
            "sample": [0, 0, 0, 0, 0, 1],
        }
    )
    final = statistics.final_epoch(table)
    assert final[["run", "epoch", "split"]].values.tolist() == [["a", 2, "test"], ["b", 3, "train"], ["b", 3, "train"]]


def test_final_test_accuracy_at_the_last_epoch(tmp_path):
    metrics = runs.load_table([write_run(tmp_path / "a", test_accuracy=0.7)], "metrics.csv")
    final = statistics.final_test_accuracy(metrics)
    assert final[["epoch", "split"]].values.tolist() == [[2, "test"]]
    assert final["accuracy"].item() == pytest.approx(0.7)


def test_comparable_runs_and_setting_labels(tmp_path):
    folders = [write_run(tmp_path / f"{s}{seed}", signal=s, seed=seed) for s in ("label", "error") for seed in (0, 1)]
    folders += [write_run(tmp_path / f"T{T}", T=T) for T in (5, 20)]
    folders += [write_run(tmp_path / "bp", rule="bp", signal="sign", T=5)]
    metrics = runs.load_table(folders, "metrics.csv")
    assert statistics.varying_settings(metrics) == ["rule", "signal", "T"]
    assert set(statistics.comparable_runs(metrics, "signal")["run"]) == {"label0", "label1", "error0", "error1"}
    assert set(statistics.comparable_runs(metrics, "T")["run"]) == {"label0", "label1", "T5", "T20"}
    labels = statistics.setting_labels(metrics.drop_duplicates("run"))
    assert list(labels) == ["rule=brp, signal=label, T=10"] * 2 + ["rule=brp, signal=error, T=10"] * 2 + [
        "rule=brp, signal=label, T=5",
        "rule=brp, signal=label, T=20",
        "rule=bp, signal=sign, T=5",
    ]
    assert set(statistics.setting_labels(metrics[metrics["run"] == "T5"])) == {"all runs"}


def test_runs_of_other_lengths_or_sample_limits_are_other_settings(tmp_path):
    long = [write_run(tmp_path / f"long{seed}", seed=seed, epochs=3, limit_train=20000) for seed in (0, 1)]
    short = write_run(tmp_path / "short", epochs=1, limit_train=10000, limit_test=None)
    fewer_test = write_run(tmp_path / "fewer_test", seed=1, epochs=3, limit_train=20000, limit_test=500)
    metrics = runs.load_table([*long, short, fewer_test], "metrics.csv")
    assert statistics.varying_settings(metrics) == ["epochs", "limit_train", "limit_test"]
    labels = statistics.setting_labels(metrics.drop_duplicates("run"))
    assert list(labels) == ["epochs=3, limit_train=20000, limit_test=None"] * 2 + [
        "epochs=1, limit_train=10000, limit_test=None",
        "epochs=3, limit_train=20000, limit_test=500",
    ]
    assert set(statistics.comparable_runs(metrics, "signal")["run"]) == {"long0", "long1"}
    equal = runs.load_table(long, "metrics.csv")
    assert statistics.varying_settings(equal) == [] and set(statistics.setting_labels(equal)) == {"all runs"}
    absent = runs.load_table([write_run(tmp_path / f"old{seed}", seed=seed) for seed in (0, 1)], "metrics.csv")
    assert absent["limit_train"].isna().all() and statistics.varying_settings(absent) == []


def population_cv(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) / mean


def test_isi_cv_and_fano_factor_by_hand():
    intervals = statistics.interspike_intervals([8, 1, 4, 3])
    assert intervals.tolist() == [2, 1, 4]
    assert statistics.isi_cv(intervals) == pytest.approx(population_cv([2, 1, 4]))
    assert statistics.isi_cv(intervals) == pytest.approx(math.sqrt(14 / 9) / (7 / 3))
    # counts 4 and 1: mean 2.5, population variance 2.25
    assert statistics.fano_factor([[1, 3, 4, 8], [1]]) == pytest.approx(2.25 / 2.5)
    assert statistics.fano_factor([[1, 2], [3, 4]]) == 0
    assert math.isnan(statistics.isi_cv([5.0])) and math.isnan(statistics.fano_factor([[1, 2, 3]]))
    assert math.isnan(statistics.fano_factor([[], []]))


def test_poisson_train_has_cv_and_fano_factor_near_one():
    rng = np.random.default_rng(7)
    spike_times = np.cumsum(rng.exponential(scale=10.0, size=20_000))
    assert statistics.isi_cv(statistics.interspike_intervals(spike_times)) == pytest.approx(1, abs=0.1)
    window = np.floor(spike_times / 200).astype(int)
    trains = [spike_times[window == k] for k in range(window.max())]
    assert statistics.fano_factor(trains) == pytest.approx(1, abs=0.1)


def test_regular_train_has_cv_zero():
    spike_times = np.arange(0, 1000, 5.0)
    assert statistics.isi_cv(statistics.interspike_intervals(spike_times)) == pytest.approx(0, abs=1e-12)
    assert statistics.fano_factor([spike_times[:50], spike_times[50:100]]) == 0


def test_spike_train_statistics_of_traced_neurons(tmp_path):
    traces = runs.load_traces([write_run(tmp_path / "a", traces=True)])
    table = statistics.spike_train_statistics(traces)
    assert len(table) == 2 * 2
    for epoch in (1, 2):
        at_epoch = table[table["epoch"] == epoch].set_index("layer")
        assert at_epoch.loc["hidden1", ["samples", "spikes", "intervals"]].tolist() == [3, 6, 3]
        assert at_epoch.loc["hidden1", "isi_cv"] == 0 and at_epoch.loc["hidden1", "fano_factor"] == 0
        assert at_epoch.loc["output", ["samples", "spikes", "intervals"]].tolist() == [3, 5, 3]
        assert at_epoch.loc["output", "isi_cv"] == pytest.approx(population_cv([2, 1, 4]))
        # counts 4, 1, 0: mean 5/3, population variance 26/9
        assert at_epoch.loc["output", "fano_factor"] == pytest.approx((26 / 9) / (5 / 3))


def test_spike_train_statistics_of_a_bernoulli_neuron_is_near_poisson():
    """Spikes with probability 0.02 per step in 1000 samples of 1000 steps: geometric intervals (CV sqrt(0.98)) and
    binomial counts (Fano factor 0.98); samples much longer than the mean interval keep the pooled CV unbiased."""
    rng = np.random.default_rng(0)
    steps, samples = 1000, 1000
    spikes = (rng.random((samples, steps)) < 0.02).astype(int)
    traces = pd.DataFrame(
        {
            "epoch": 1,
            "split": "train",
            "sample": np.repeat(np.arange(samples), steps),
            "layer": "hidden1",
            "neuron": 0,
            "step": np.tile(np.arange(steps), samples),
            "v_mV": 0.0,
            "spike": spikes.ravel(),
            **{column: None for column in runs.SETTING_COLUMNS},
            "run": "bernoulli",
        }
    )
    row = statistics.spike_train_statistics(traces).iloc[0]
    assert row["spikes"] == spikes.sum()
    assert row["isi_cv"] == pytest.approx(1, abs=0.1)
    assert row["fano_factor"] == pytest.approx(1, abs=0.1)

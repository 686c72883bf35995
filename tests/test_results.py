"""Kept runs (analysis.results): the small tables of a run copied into the repository, their firing summary,
and the figures and README table drawn from them."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis import results

ROOT = results.ROOT


def fake_run(folder, protocol="mnist", accuracies=(0.5, 0.7, 0.6)):
    """A run folder as the protocols write it: two samples per split and epoch, layers 4 -> 3 -> 2 neurons."""
    folder.mkdir(parents=True)
    settings = {"protocol": protocol, "topology": "FC_3_FC_2", "rule": "brp", "signal": "label", "T": 5}
    settings |= {"lr": 1e-3, "seed": 1, "n_train": 2, "epochs": len(accuracies)}
    (folder / "config.json").write_text(json.dumps({"settings": settings}))
    metrics = [{"epoch": e + 1, "split": s, "accuracy": a} for e, a in enumerate(accuracies) for s in ("train", "test")]
    pd.DataFrame(metrics).to_csv(folder / "metrics.csv", index=False)
    layers = {"layer": ["input", "hidden1", "output"], "kind": ["input", "dense", "output"]}
    layers |= {"n_neurons": [4, 3, 2], "fan_out": [3, 2, 0], "synapses_in": [0, 12, 6]}
    pd.DataFrame(layers).to_csv(folder / "layers.csv", index=False)
    rng = np.random.default_rng(0)
    rows = []
    for epoch in range(1, len(accuracies) + 1):
        for split in ("train", "test"):
            for sample in range(2):
                for layer, n in (("input", 4), ("hidden1", 3), ("output", 2)):
                    active = int(rng.integers(0, n + 1))
                    rows.append([epoch, split, sample, sample % 2, layer, active * int(rng.integers(1, 5)), active])
    columns = ["epoch", "split", "sample", "label", "layer", "spikes", "active"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "firing.csv", index=False)
    (folder / "checkpoint.npz").write_bytes(b"large")
    return folder


def test_firing_summary_is_the_mean_over_samples_of_each_layer(tmp_path):
    run = fake_run(tmp_path / "run")
    summary = results.firing_summary(run)
    firing = pd.read_csv(run / "firing.csv")
    sizes, fan_out = {"input": 4, "hidden1": 3, "output": 2}, {"input": 3, "hidden1": 2, "output": 0}
    assert len(summary) == 3 * 2 * 3
    for row in summary.itertuples():
        mine = firing[(firing.epoch == row.epoch) & (firing.split == row.split) & (firing.layer == row.layer)]
        n = sizes[row.layer]
        assert row.samples == 2 and row.n_neurons == n
        assert row.rate == pytest.approx((mine.spikes / (n * 5)).mean())
        assert row.silent_fraction == pytest.approx((1 - mine.active / n).mean())
        assert row.synaptic_events_per_sample == pytest.approx((mine.spikes * fan_out[row.layer]).mean())


def test_keep_copies_the_small_tables_and_never_replaces(tmp_path, capsys):
    run = fake_run(tmp_path / "run")
    into = tmp_path / "kept"
    assert results.main(["keep", str(run), "--into", str(into), "--name", "first"]) == 0
    kept = into / "mnist" / "first"
    assert sorted(p.name for p in kept.iterdir()) == sorted([*results.KEPT, results.SUMMARY])
    assert (kept / "metrics.csv").read_text() == (run / "metrics.csv").read_text()
    capsys.readouterr()
    assert results.main(["keep", str(run), "--into", str(into), "--name", "first"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert results.main(["keep", str(tmp_path), "--into", str(into)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_render_draws_the_kept_runs_and_rewrites_only_the_readme_block(tmp_path, capsys):
    into = tmp_path / "kept"
    results.keep(fake_run(tmp_path / "a"), into, "a")
    results.keep(fake_run(tmp_path / "b", protocol="digits", accuracies=(0.8, 0.9)), into, "b")
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{results.BEGIN}\nold table\n{results.END}\nafter\n")
    figures = tmp_path / "figures"
    assert results.main(["render", "--runs", str(into), "--figures", str(figures), "--readme", str(readme)]) == 0
    assert (figures / "accuracy.png").stat().st_size > 10_000 and (figures / "firing.png").stat().st_size > 10_000
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith(f"{results.END}\nafter\n") and "old table" not in text
    lines = text.split(results.BEGIN)[1].split(results.END)[0].strip().splitlines()
    assert lines[2].startswith("| `digits/b` |") and "| 90.0 % | 90.0 % (2) |  |" in lines[2]  # no paper value
    assert lines[3].startswith("| `mnist/a` |") and "| 60.0 % | 70.0 % (2) | 99.01 % |" in lines[3]
    readme.write_text("no markers\n")
    assert results.main(["render", "--runs", str(into), "--figures", str(figures), "--readme", str(readme)]) == 2
    assert "needs one" in capsys.readouterr().err


def test_the_readme_table_is_the_one_drawn_from_the_kept_runs():
    kept = results.kept_runs(ROOT / "results" / "runs")
    assert len(kept) >= 3, "the README's accuracy rows come from runs kept in results/runs"
    table = results.markdown(results.accuracy_table(kept))
    readme = (ROOT / "README.md").read_text()
    assert f"{results.BEGIN}\n{table}\n{results.END}" in readme, "run python -m analysis.results render"
    for folder in kept:
        assert not (folder / "checkpoint.npz").exists() and not (folder / "firing.csv").exists()

import json

import pandas as pd
import pytest

from analysis.runs import final_accuracy, load_metrics


def make_run(folder, seed, accuracies):
    folder.mkdir(parents=True)
    settings = {"protocol": "digits", "rule": "brp", "signal": "label", "form": "code", "seed": seed}
    (folder / "config.json").write_text(json.dumps({"settings": settings, "environment": {}}))
    rows = [{"epoch": e + 1, "split": s, "accuracy": a} for e, a in enumerate(accuracies) for s in ("train", "test")]
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    return folder


def test_final_accuracy_over_seeds(tmp_path):
    runs = [make_run(tmp_path / "a", 0, [0.5, 0.8]), make_run(tmp_path / "b", 1, [0.6, 0.9, 0.7])]
    metrics = load_metrics(runs)
    assert len(metrics) == 10 and set(metrics["seed"]) == {0, 1}
    summary = final_accuracy(metrics)
    assert summary["count"].item() == 2
    assert summary["mean"].item() == pytest.approx(0.75)
    assert summary["std"].item() == pytest.approx(pd.Series([0.8, 0.7]).std())


def test_no_runs_is_an_error():
    with pytest.raises(ValueError, match="no run folders"):
        load_metrics([])

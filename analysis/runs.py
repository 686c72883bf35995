"""Tidy tables from run folders (one row per run, epoch and split)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

CONFIG_COLUMNS = ("protocol", "rule", "signal", "form", "topology", "T", "lr", "batch_size", "optimizer", "seed")


def load_metrics(run_dirs) -> pd.DataFrame:
    """metrics.csv of every run folder, with the run's folder and main settings as columns."""
    frames = []
    for folder in map(Path, run_dirs):
        settings = json.loads((folder / "config.json").read_text())["settings"]
        metrics = pd.read_csv(folder / "metrics.csv")
        for column in CONFIG_COLUMNS:
            metrics[column] = settings.get(column)
        metrics["run"] = folder.name
        frames.append(metrics)
    if not frames:
        raise ValueError("no run folders given")
    return pd.concat(frames, ignore_index=True)


def final_accuracy(metrics: pd.DataFrame, by=("protocol", "rule", "signal", "form")) -> pd.DataFrame:
    """Test accuracy at each run's last epoch, mean and standard deviation over runs (seeds)."""
    test = metrics[metrics["split"] == "test"]
    last = test.loc[test.groupby("run")["epoch"].idxmax()]
    return last.groupby(list(by))["accuracy"].agg(["mean", "std", "count"]).reset_index()

"""Tidy tables from run folders: metrics.csv, layers.csv, firing.csv and traces.csv, each with the run's settings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from protocols.runs import ADDED_OFF

CONFIG_COLUMNS = ("protocol", "rule", "signal", "form", "topology", "T", "lr", "batch_size", "optimizer", "seed")
# Settings that tell runs apart in the report's tables and figures: runs that differ in any of them (other than the
# seed) are never averaged together. The length of training (config.json's epochs) and the number of samples
# (limit_train, limit_test: None for the whole split) are among them; a key missing from a config.json reads as None.
SETTING_COLUMNS = (
    *CONFIG_COLUMNS,
    "alpha",
    "neuron_model",
    "adaptation",
    "tau_adaptation",
    "homeostasis",
    "target_rate",
    "inhibition",
    "winners",
    "receptive_field",
    "active_fraction",
    "active_rate",
    "decision_neurons",
    "punishment",
    "orthogonal_readout",
    "epochs",
    "limit_train",
    "limit_test",
)
# Setting columns named apart from their config.json key (traces.csv has a column ``neuron``: the neuron's index).
SETTING_KEYS = {"neuron_model": "neuron"}
# A time constant or target is no setting of a run whose control is off (protocols.runs.ADDED_OFF: absent from the
# config.json of runs made before the control, or 0), so it reads as None.
COMPANION_SETTINGS = {"adaptation": "tau_adaptation", "homeostasis": "target_rate", "active_fraction": "active_rate"}
# Columns each table must have; all numeric except TEXT_COLUMNS.
TABLE_COLUMNS = {
    "metrics.csv": ("epoch", "split", "accuracy"),
    "layers.csv": ("layer", "kind", "n_neurons", "fan_out", "synapses_in"),
    "firing.csv": ("epoch", "split", "sample", "label", "layer", "spikes", "active"),
    "traces.csv": ("epoch", "split", "sample", "layer", "neuron", "step", "v_mV", "spike"),
    "neurons.csv": ("epoch", "split", "layer", "neuron", "rate"),
}
TEXT_COLUMNS = frozenset({"split", "layer", "kind"})


class RunReadError(ValueError):
    """A run folder, or one of its files, that cannot be read."""


def read_settings(folder) -> dict:
    """The ``settings`` of a run folder's config.json."""
    if not Path(folder).is_dir():
        raise RunReadError(f"{folder}: no such folder")
    path = Path(folder) / "config.json"
    try:
        settings = json.loads(path.read_text())["settings"]
    except FileNotFoundError:
        raise RunReadError(f"{folder} is not a run folder (no config.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise RunReadError(f"cannot read {path}: {type(error).__name__}: {error}") from None
    if not isinstance(settings, dict):
        raise RunReadError(f"cannot read {path}: 'settings' is not an object")
    settings = settings | {switch: settings.get(switch) or off for switch, off in ADDED_OFF.items()}
    for switch, companion in COMPANION_SETTINGS.items():
        if not settings[switch]:
            settings[companion] = None
    return settings


def read_table(folder, filename: str) -> pd.DataFrame:
    """One table of a run folder, checked against :data:`TABLE_COLUMNS`."""
    path = Path(folder) / filename
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise RunReadError(f"{folder} has no {filename}") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise RunReadError(f"cannot read {path}: {type(error).__name__}: {error}") from None
    required = TABLE_COLUMNS.get(filename, ())
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise RunReadError(f"{path} lacks the columns {', '.join(missing)}")
    numeric = [column for column in required if column not in TEXT_COLUMNS]
    not_numeric = [column for column in numeric if not pd.api.types.is_numeric_dtype(table[column])]
    if len(table) and not_numeric:
        raise RunReadError(f"{path} has non-numeric values in the columns {', '.join(not_numeric)}")
    return table


def load_table(run_dirs, filename: str, setting_columns=SETTING_COLUMNS) -> pd.DataFrame:
    """``filename`` of every run folder, with the run's folder name (``run``) and settings as columns."""
    frames = []
    for folder in map(Path, run_dirs):
        settings = read_settings(folder)
        table = read_table(folder, filename)
        for column in setting_columns:
            table[column] = settings.get(SETTING_KEYS.get(column, column))
        table["run"] = folder.name
        frames.append(table)
    if not frames:
        raise ValueError("no run folders given")
    return pd.concat(frames, ignore_index=True)


def load_metrics(run_dirs) -> pd.DataFrame:
    """metrics.csv of every run folder, with the run's folder and main settings as columns."""
    return load_table(run_dirs, "metrics.csv", CONFIG_COLUMNS)


def load_layers(run_dirs) -> pd.DataFrame:
    """layers.csv of every run folder (one row per layer, in forward order), with the run's settings."""
    return load_table(run_dirs, "layers.csv")


def load_firing(run_dirs) -> pd.DataFrame:
    """firing.csv of every run folder (one row per epoch, split, recorded sample and layer), with the settings."""
    return load_table(run_dirs, "firing.csv")


def load_neurons(run_dirs) -> pd.DataFrame:
    """neurons.csv of every run folder (each neuron's rate per epoch and split), with the settings."""
    return load_table(run_dirs, "neurons.csv")


def load_traces(run_dirs) -> pd.DataFrame:
    """traces.csv of every run folder (membrane potential and spike per traced neuron and step), with the settings
    and the neurons' threshold ``v_th_mV`` (missing in runs that did not record it)."""
    return load_table(run_dirs, "traces.csv", (*SETTING_COLUMNS, "v_th_mV"))


def final_accuracy(metrics: pd.DataFrame, by=("protocol", "rule", "signal", "form")) -> pd.DataFrame:
    """Test accuracy at each run's last epoch, mean and standard deviation over runs (seeds)."""
    test = metrics[metrics["split"] == "test"]
    last = test.loc[test.groupby("run")["epoch"].idxmax()]
    return last.groupby(list(by))["accuracy"].agg(["mean", "std", "count"]).reset_index()

"""Run folders: ``<results>/<protocol>/<timestamp>_<rule>_seed<k>/``, never overwritten.

Each holds ``config.json`` (settings, git commit, package versions, host, and
``epochs_changes`` when a resumed run was lengthened; written atomically: a folder
without one is a run interrupted before it started), ``metrics.csv`` (one row per
epoch and split, appended as epochs finish),
``checkpoint.npz`` (learned arrays, optimizer state, feedback matrices and the
last finished epoch, replaced atomically after every epoch), and the firing
statistics (tidy CSV tables, documented in the README):

* ``layers.csv``: layer, kind, n_neurons, fan_out, synapses_in (written once);
* ``firing.csv``: epoch, split, sample, label, layer, spikes, active: per recorded
  sample (every test sample, every ``TRAIN_STRIDE``-th training sample) and stage;
* ``traces.csv``: epoch, split, sample, label, layer, neuron, step, v_mV, spike:
  membrane potentials (as the threshold sees them) of a few neurons per layer in
  the first test samples of every epoch (Fig. 7);
* ``neurons.csv``: epoch, split, layer, neuron, rate: every neuron's spikes per step over the
  epoch's training and test samples (the per-neuron firing-rate distribution; pooling units:
  their pooled activity);
* ``readouts.csv`` (with ``--readouts``): epoch, readout, accuracy, layer, n_neurons,
  n_fit, n_test: the network's own readout (named by its rule) and the reference
  readouts of :mod:`analysis.readouts` on the test samples.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

# config.json settings added after runs were made: off in those runs (this value, with the setting's type), whatever
# a protocol's default is now (digits: homeostasis).
ADDED_OFF = {
    "adaptation": 0.0,
    "homeostasis": 0.0,
    "inhibition": 0.0,
    "winners": 0,
    "receptive_field": 0,
    "active_fraction": 0.0,
    "active_rate": 0.0,
    "decision_neurons": 0,
    "punishment": 1.0,  # Mozafari's scaling, the only one before the setting
    "orthogonal_readout": False,
}

PACKAGES = ("brian2", "numpy", "scipy", "scikit-learn", "pandas")
METRIC_COLUMNS = ["epoch", "split", "accuracy", "n_samples", "seconds", "samples_per_s"]
EPOCH_TABLES = ("metrics.csv", "firing.csv", "traces.csv", "neurons.csv")  # rows per epoch, truncated on resume
TRAIN_STRIDE = 10  # firing.csv keeps every TRAIN_STRIDE-th training sample (and every test sample)


class RunFolderError(Exception):
    """A run folder that cannot be created, written or resumed."""


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment() -> dict:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "git_commit": git_commit(),
        "packages": versions,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def writable_folder(folder: Path, what: str) -> None:
    """Create ``folder`` (and its parents) where missing; a :class:`RunFolderError` naming ``what`` if that
    fails or the folder is not writable."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"cannot create {what} {folder}: {error.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise RunFolderError(f"{what} {folder} is not writable")


def create_run_folder(results_dir, protocol: str, rule: str, seed: int, name: str | None = None) -> Path:
    """A new, empty run folder; a suffix is added rather than reuse an existing one.

    With ``name`` the folder is ``<results_dir>/<protocol>/<name>`` and must not exist yet.
    """
    parent = Path(results_dir) / protocol
    writable_folder(parent, "results folder")
    if name is not None:
        folder = parent / name
        try:
            folder.mkdir()
        except FileExistsError:
            raise RunFolderError(f"run folder {folder} exists already; continue it with --resume {folder}") from None
        except OSError as error:
            raise RunFolderError(f"cannot create run folder {folder}: {error.strerror}") from None
        return folder
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for k in range(1000):
        folder = parent / (f"{stamp}_{rule}_seed{seed}" + (f"_{k}" if k else ""))
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            raise RunFolderError(f"cannot create run folder {folder}: {error.strerror}") from None
        return folder
    raise RunFolderError(f"no free run folder name under {parent}")


def _write_json(path: Path, payload: dict) -> None:
    """Write atomically: a crash mid-write leaves the previous file, or none."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, path)


def write_config(folder: Path, config: dict) -> None:
    """config.json, written atomically: a run folder has a complete config.json or none."""
    _write_json(folder / "config.json", {"settings": config, "environment": environment()})


def unstarted(folder) -> bool:
    """A folder whose run was interrupted between its creation and its config.json: nothing in it to resume."""
    folder = Path(folder)
    traces = ("config.json", "checkpoint.npz", *EPOCH_TABLES)
    return folder.is_dir() and not any((folder / name).exists() for name in traces)


def read_payload(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if unstarted(folder):
        raise RunFolderError(
            f"{folder} has no config.json: its run was interrupted before it started, so there is nothing to "
            "resume; delete the folder and start the run again"
        )
    if not path.is_file():
        raise RunFolderError(f"{folder} is not a run folder: it has no config.json")
    try:
        payload = json.loads(path.read_text())
        if not isinstance(payload["settings"], dict):
            raise ValueError("'settings' is not an object")
        return payload
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunFolderError(f"{path} is not a valid run configuration: {error}") from None


def read_config(folder: Path) -> dict:
    """The run's settings (config.json's ``settings``)."""
    return read_payload(folder)["settings"]


def record_epochs_change(folder: Path, epochs: int, after_epoch: int) -> None:
    """A resumed run's new ``epochs``: the setting, and an entry of config.json's ``epochs_changes`` list.

    Each entry says from which value to which the setting changed and after how many finished epochs
    (``after_epoch``: the new value holds from epoch ``after_epoch + 1`` on).
    """
    payload = read_payload(folder)
    change = {
        "after_epoch": after_epoch,
        "from": payload["settings"].get("epochs"),
        "to": epochs,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    payload["settings"]["epochs"] = epochs
    payload["epochs_changes"] = [*payload.get("epochs_changes", []), change]
    _write_json(Path(folder) / "config.json", payload)


def append_metrics(folder: Path, rows: list[dict]) -> None:
    """Append rows to metrics.csv, writing the header first if the file is new."""
    path = folder / "metrics.csv"
    new = not path.exists()
    columns = list(rows[0])
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def save_checkpoint(folder: Path, epoch: int, state: dict, feedback: dict) -> None:
    """Write checkpoint.npz atomically (a crash mid-write leaves the previous one)."""
    arrays = {f"state/{k}": v for k, v in state.items()}
    arrays.update({f"feedback/{k}": v for k, v in feedback.items()})
    arrays["epoch"] = np.array([epoch])
    tmp = folder / "checkpoint.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, folder / "checkpoint.npz")


def load_checkpoint(folder: Path) -> tuple[int, dict, dict]:
    """The last finished epoch, the learned state and the feedback matrices (0, {}, {} without a checkpoint)."""
    path = Path(folder) / "checkpoint.npz"
    if not path.is_file():
        return 0, {}, {}
    try:
        with np.load(path) as data:
            state = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("state/")}
            feedback = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("feedback/")}
            return int(data["epoch"][0]), state, feedback
    except Exception as error:  # a truncated or foreign file: zipfile, pickle and numpy errors alike
        raise RunFolderError(f"cannot read {path}: {type(error).__name__}: {error}") from None


def checkpoint_epoch(folder: Path) -> int:
    """The last finished epoch of the checkpoint (0 without one), reading nothing else."""
    path = Path(folder) / "checkpoint.npz"
    if not path.is_file():
        return 0
    try:
        with np.load(path) as data:
            return int(data["epoch"][0])
    except Exception as error:
        raise RunFolderError(f"cannot read {path}: {type(error).__name__}: {error}") from None


def write_layers(folder: Path, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(folder / "layers.csv", index=False)


def append_table(folder: Path, filename: str, table: pd.DataFrame) -> None:
    """Append rows to a CSV table of the run folder, with the header if the file is new."""
    path = folder / filename
    table.to_csv(path, mode="a", header=not path.exists(), index=False)


def replace_epoch_rows(folder: Path, filename: str, table: pd.DataFrame) -> None:
    """Write ``table``'s rows into a CSV table of the run folder, in place of that table's rows of the same epochs."""
    path = folder / filename
    if path.exists():
        kept = pd.read_csv(path)
        table = pd.concat([kept[~kept["epoch"].isin(table["epoch"])], table], ignore_index=True)
    tmp = path.with_suffix(".tmp.csv")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


def firing_table(epoch: int, activity: dict, stage_names, labels, n_train: int) -> pd.DataFrame:
    """firing.csv rows of one epoch: ``activity`` arrays are (stages, samples of the run), labels per sample."""
    n_run = len(labels)
    keep = np.flatnonzero((np.arange(n_run) >= n_train) | (np.arange(n_run) % TRAIN_STRIDE == 0))
    split = np.where(keep < n_train, "train", "test")
    frames = []
    for k, layer in enumerate(stage_names):
        frames.append(
            pd.DataFrame(
                {
                    "epoch": epoch,
                    "split": split,
                    "sample": np.where(keep < n_train, keep, keep - n_train),
                    "label": labels[keep],
                    "layer": layer,
                    "spikes": activity["spikes"][k, keep].astype(int),
                    "active": activity["active"][k, keep].astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def neuron_table(epoch: int, neuron_rates: dict) -> pd.DataFrame:
    """neurons.csv rows of one epoch from :attr:`models.training.RunResult.neuron_rates` (split -> layer -> rates)."""
    frames = [
        pd.DataFrame({"epoch": epoch, "split": split, "layer": layer, "neuron": np.arange(len(rates)), "rate": rates})
        for split, layers in neuron_rates.items()
        for layer, rates in layers.items()
    ]
    return pd.concat(frames, ignore_index=True)


def traces_table(epoch: int, traces, labels, n_train: int) -> pd.DataFrame:
    """traces.csv rows of one epoch from :attr:`models.training.RunResult.traces`."""
    frames = []
    for layer, sample, step, neuron, v, spiked in traces:
        frames.append(
            pd.DataFrame(
                {
                    "epoch": epoch,
                    "split": np.where(sample < n_train, "train", "test"),
                    "sample": np.where(sample < n_train, sample, sample - n_train),
                    "label": labels[sample],
                    "layer": layer,
                    "neuron": neuron,
                    "step": step,
                    "v_mV": v,
                    "spike": spiked,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def finished_epochs(folder: Path) -> int:
    """Epochs recorded in metrics.csv (rows beyond the checkpoint are dropped on resume)."""
    path = folder / "metrics.csv"
    if not path.exists():
        return 0
    with path.open() as f:
        return max((int(row["epoch"]) for row in csv.DictReader(f)), default=0)


def truncate_tables(folder: Path, epoch: int) -> None:
    """Keep only the rows of epochs <= ``epoch`` (those covered by the checkpoint) in every epoch table."""
    for filename in EPOCH_TABLES:
        path = folder / filename
        if not path.exists():
            continue
        table = pd.read_csv(path)
        table[table["epoch"] <= epoch].to_csv(path, index=False)

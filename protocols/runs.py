"""Run folders: ``<results>/<protocol>/<timestamp>_<rule>_seed<k>/``, never overwritten.

Each holds ``config.json`` (settings, git commit, package versions, host),
``metrics.csv`` (one row per epoch and split, appended as epochs finish) and
``checkpoint.npz`` (learned arrays, optimizer state, feedback matrices and the
last finished epoch, replaced atomically after every epoch).
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

PACKAGES = ("brian2", "numpy", "scipy", "scikit-learn", "pandas")
METRIC_COLUMNS = ["epoch", "split", "accuracy", "n_samples", "seconds", "samples_per_s"]


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


def create_run_folder(results_dir, protocol: str, rule: str, seed: int, name: str | None = None) -> Path:
    """A new, empty run folder; a suffix is added rather than reuse an existing one.

    With ``name`` the folder is ``<results_dir>/<protocol>/<name>`` and must not exist yet.
    """
    parent = Path(results_dir) / protocol
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"cannot create results folder {parent}: {error.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise RunFolderError(f"results folder {parent} is not writable")
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


def write_config(folder: Path, config: dict) -> None:
    payload = {"settings": config, "environment": environment()}
    (folder / "config.json").write_text(json.dumps(payload, indent=2, default=str))


def read_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise RunFolderError(f"{folder} is not a run folder: it has no config.json")
    try:
        return json.loads(path.read_text())["settings"]
    except (ValueError, KeyError) as error:
        raise RunFolderError(f"{path} is not a valid run configuration: {error}") from None


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
    path = Path(folder) / "checkpoint.npz"
    if not path.is_file():
        return 0, {}, {}
    with np.load(path) as data:
        state = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("state/")}
        feedback = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("feedback/")}
        return int(data["epoch"][0]), state, feedback


def finished_epochs(folder: Path) -> int:
    """Epochs recorded in metrics.csv (rows beyond the checkpoint are dropped on resume)."""
    path = folder / "metrics.csv"
    if not path.exists():
        return 0
    with path.open() as f:
        return max((int(row["epoch"]) for row in csv.DictReader(f)), default=0)


def truncate_metrics(folder: Path, epoch: int) -> None:
    """Keep only the rows of epochs <= ``epoch`` (those covered by the checkpoint)."""
    path = folder / "metrics.csv"
    if not path.exists():
        return
    with path.open() as f:
        reader = csv.DictReader(f)
        rows = [row for row in reader if int(row["epoch"]) <= epoch]
        columns = reader.fieldnames
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

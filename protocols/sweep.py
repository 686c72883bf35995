"""Many runs at once on Dask distributed: grids of seeds, T, rules, signals and datasets.

    python -m protocols.sweep --dataset digits --grid "T=10,20,30;seed=0,1,2" --epochs 5 --workers 2
    python -m protocols.sweep --dataset mnist --grid "signal=label,error" --scheduler tcp://host:8786 -- --data-dir DIR

Every grid point is one run of ``python -m protocols.<dataset>`` in its own
process, submitted as a task to a Dask ``LocalCluster`` (one single-threaded
worker process per core by default) or to a running scheduler
(``--scheduler``; e.g. one started by dask-jobqueue on a Slurm or PBS cluster).
Arguments after ``--`` go to every run.

The sweep's folder ``<results-dir>/sweeps/<dataset>-<hash of the command>/``
holds each run's folder under ``runs/<grid values>/`` and ``sweep.csv``, one
tidy table of all runs (grid values, epoch, split, accuracy, seconds,
samples_per_s, status, error).  A failed run (bad parameter, crash, killed
worker) is reported in the table and does not stop the others.  Running the
same command again skips finished runs and resumes unfinished ones from their
last finished epoch.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import importlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from protocols import cli, runs

DATASETS = ("digits", "mnist", "cifar10", "tidigits", "nmnist", "dvsgesture")
TABLE = "sweep.csv"


class GridError(ValueError):
    """A malformed grid string."""


def parse_grid(text: str) -> list[dict[str, str]]:
    """``"rule=brp,bp;T=10,20"`` -> the cartesian product as a list of {option: value}."""
    axes = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, values = part.partition("=")
        key = key.strip()
        values = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key or not values:
            raise GridError(f"invalid grid part {part!r}: expected name=value[,value...]")
        if key in axes:
            raise GridError(f"grid names {key!r} twice")
        axes[key] = values
    if not axes:
        raise GridError(f"empty grid {text!r}: expected e.g. 'T=10,20;seed=0,1'")
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes.values())]


def run_name(point: dict[str, str]) -> str:
    return "_".join(f"{k}={v}" for k, v in point.items())


def _die_with_parent() -> None:
    """In the run's process (Linux): be terminated when the worker that started it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_point(dataset: str, point: dict, epochs: int, extra: list[str], runs_dir: str) -> dict:
    """One grid point in a subprocess; returns its status, folder and error (runs on a Dask worker)."""
    folder = Path(runs_dir) / dataset / run_name(point)
    if folder.exists():
        if runs.finished_epochs(folder) >= epochs and (folder / "checkpoint.npz").exists():
            return {"status": "skipped (finished)", "folder": str(folder), "error": "", "seconds": 0.0}
        argv = ["--resume", str(folder), "--epochs", str(epochs)]
        status = f"finished (resumed after epoch {runs.finished_epochs(folder)})"
    else:
        argv = [*extra, "--epochs", str(epochs), "--results-dir", runs_dir, "--run-name", run_name(point)]
        for key, value in point.items():
            argv += [f"--{key.replace('_', '-')}", value]
        status = "finished"
    tic = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", f"protocols.{dataset}", *argv, "--quiet"],
        capture_output=True,
        text=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        cwd=Path(__file__).resolve().parent.parent,
    )
    seconds = time.perf_counter() - tic
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}").splitlines()
        return {"status": "failed", "folder": str(folder), "error": lines[-1], "seconds": seconds}
    return {"status": status, "folder": str(folder), "error": "", "seconds": seconds}


def sweep_folder(results_dir, dataset, grid, epochs, extra) -> Path:
    key = json.dumps([dataset, grid, epochs, extra])
    return Path(results_dir) / "sweeps" / f"{dataset}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def write_table(folder: Path, points: list[dict], outcomes: list[dict]) -> Path:
    """One tidy table: a row per run, epoch and split (a single row for a run that has no metrics)."""
    rows = []
    keys = list(points[0])
    for point, outcome in zip(points, outcomes):
        base = {**point, "run": run_name(point), "status": outcome["status"], "error": outcome["error"]}
        metrics = Path(outcome["folder"]) / "metrics.csv"
        if metrics.exists():
            with metrics.open() as f:
                for row in csv.DictReader(f):
                    rows.append(
                        {
                            **base,
                            **{c: row[c] for c in ("epoch", "split", "accuracy", "seconds", "samples_per_s")},
                        }
                    )
        else:
            rows.append(base)
    columns = [*keys, "run", "epoch", "split", "accuracy", "seconds", "samples_per_s", "status", "error"]
    path = folder / TABLE
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def client_for(scheduler: str | None, workers: int):
    """A Dask client: to a running scheduler, or to a LocalCluster of single-threaded worker processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = cli.OneLineParser(prog="python -m protocols.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--grid", required=True, help='e.g. "rule=brp;T=10,20,30;seed=0,1,2"')
    parser.add_argument("--epochs", type=cli.positive(int), default=1)
    parser.add_argument("--workers", type=cli.positive(int), default=os.cpu_count() or 1)
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    parser.add_argument("--results-dir", default=str(cli.DEFAULT_RESULTS))
    args = parser.parse_args(own)
    try:
        points = parse_grid(args.grid)
        defaults = importlib.import_module(f"protocols.{args.dataset}").DEFAULTS
        protocol_options = {a.dest for a in cli.build_parser(args.dataset, defaults)._actions}
        for key in points[0]:
            dest = key.replace("-", "_")
            if dest not in protocol_options or dest in ("resume", "results_dir", "run_name", "epochs", "help"):
                raise GridError(f"grid name {key!r} is not an option of protocols.{args.dataset}")
        folder = sweep_folder(args.results_dir, args.dataset, args.grid, args.epochs, extra)
        (folder / "runs").mkdir(parents=True, exist_ok=True)
    except GridError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{parser.prog}: error: cannot create the sweep folder: {error.strerror}", file=sys.stderr)
        return 2
    (folder / "command.json").write_text(json.dumps({"argv": argv, "grid": points}, indent=2))
    print(f"sweep folder: {folder} ({len(points)} runs)", flush=True)
    from dask.distributed import as_completed

    client, cluster = client_for(args.scheduler, args.workers)
    tic = time.perf_counter()
    try:
        futures = {
            client.submit(run_point, args.dataset, p, args.epochs, extra, str(folder / "runs"), pure=False): k
            for k, p in enumerate(points)
        }
        outcomes: list[dict] = [{}] * len(points)
        for done, future in enumerate(as_completed(futures), start=1):
            k = futures[future]
            try:
                outcomes[k] = future.result()
            except Exception as error:  # a killed worker or a lost task: record it, go on
                outcomes[k] = {
                    "status": "failed",
                    "folder": "",
                    "error": f"{type(error).__name__}: {error}",
                    "seconds": 0.0,
                }
            o = outcomes[k]
            detail = f": {o['error']}" if o["error"] else f" in {o['seconds']:.1f} s"
            print(f"[{done}/{len(points)}] {run_name(points[k])} {o['status']}{detail}", flush=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    table = write_table(folder, points, outcomes)
    failed = sum(o["status"] == "failed" for o in outcomes)
    print(f"{len(points) - failed} runs finished, {failed} failed, {time.perf_counter() - tic:.1f} s; table: {table}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

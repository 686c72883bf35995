"""Many runs at once on Dask distributed: grids of seeds, T, rules, signals and datasets.

    python -m protocols.sweep --dataset digits --grid "T=10,20,30;seed=0,1,2" --epochs 5 --workers 2
    python -m protocols.sweep --dataset mnist --grid "signal=label,error" --scheduler tcp://host:8786 -- --data-dir DIR

Every grid point is one run of ``python -m protocols.<dataset>`` in its own
process, submitted as a task to a Dask ``LocalCluster`` (one single-threaded
worker process per core by default) or to a running scheduler
(``--scheduler``; e.g. one started by ``dask scheduler`` and ``dask worker`` or by
dask-jobqueue on a Slurm or PBS cluster; its workers need the project installed,
``pip install -e .``, and the same file system). Arguments after ``--`` go to
every run. Relative paths (``--results-dir``, ``--data-dir``, ``--cache-dir``)
are taken from the directory the sweep is started in.

The sweep's folder ``<results-dir>/sweeps/<dataset>-<hash of the command>/``
holds each run's folder under ``runs/<dataset>/<grid values>/``, each run's
output (every attempt, with a progress line a minute within each epoch) under
``logs/<grid values>.log``; the console gets one line per finished run. ``sweep.csv`` is one
tidy table of all runs (grid values, epoch, split, accuracy, seconds,
samples_per_s, status, error).  A failed run (bad parameter, crash, killed
worker) or one stopped by ``--timeout`` is reported in the table, with the
epochs it finished, and does not stop the others.  Running the same command
again (``--timeout``, ``--workers`` and ``--scheduler`` may change) skips
finished runs and resumes the others from their last finished epoch, with
all their arguments.
"""

from __future__ import annotations

import csv
import ctypes
import datetime
import hashlib
import importlib
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from protocols import cli, runs

DATASETS = ("digits", "mnist", "cifar10", "tidigits", "nmnist", "dvsgesture")
TABLE = "sweep.csv"
PATH_OPTIONS = ("--data-dir", "--results-dir", "--cache-dir")  # made absolute against the user's directory
# the run's process: a SIGTERM (sent when its worker dies) ends its whole process group, the compiled program too
CHILD = "import sys; from protocols.sweep import run_child; sys.exit(run_child(sys.argv[1], sys.argv[2:]))"
GRACE = 10  # seconds between SIGTERM and SIGKILL of a timed-out run (make deletes a half-written object file)


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


def _absolute(path: str, cwd) -> str:
    return os.path.abspath(os.path.join(cwd, os.path.expanduser(path)))


def absolute_paths(dataset: str, argv: list[str], cwd=None) -> list[str]:
    """``argv`` of a run with the values of its path options made absolute against ``cwd`` (the user's directory)."""
    cwd = os.getcwd() if cwd is None else cwd
    defaults = importlib.import_module(f"protocols.{dataset}").DEFAULTS
    flags = [f for a in cli.build_parser(dataset, defaults)._actions for f in a.option_strings]

    def full(flag: str) -> str:  # argparse accepts unambiguous prefixes
        matches = [f for f in flags if f.startswith(flag)]
        return flag if flag in flags or len(matches) != 1 else matches[0]

    out, path_next = [], False
    for arg in argv:
        if path_next:
            out.append(_absolute(arg, cwd))
            path_next = False
            continue
        flag, eq, value = arg.partition("=")
        if arg.startswith("--") and full(flag) in PATH_OPTIONS:
            if eq:
                out.append(f"{flag}={_absolute(value, cwd)}")
            else:
                out.append(arg)
                path_next = True
        else:
            out.append(arg)
    return out


def _die_with_parent(parent: int) -> None:
    """In the run's process (Linux): be sent SIGTERM when the worker that started it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the worker died before prctl
        os._exit(1)


def _terminate_group(*_) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.killpg(os.getpgrp(), signal.SIGTERM)  # this process too


def run_child(dataset: str, argv: list[str]) -> int:
    """The run's process (leader of its own process group): ``python -m protocols.<dataset> argv``.

    A SIGTERM goes on to the whole group: the compiler or the compiled program that the run started ends with it.
    """
    signal.signal(signal.SIGTERM, _terminate_group)
    return importlib.import_module(f"protocols.{dataset}").main(argv)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _outcome(status: str, folder, error: str = "", seconds: float = 0.0) -> dict:
    return {"status": status, "folder": str(folder), "error": error, "seconds": seconds}


def run_point(
    dataset: str,
    point: dict,
    epochs: int,
    extra: list[str],
    runs_dir: str,
    timeout: float | None = None,
    log: str | None = None,
    cwd: str | None = None,
) -> dict:
    """One grid point in a subprocess; returns its status, folder and error (runs on a Dask worker).

    A new run gets ``extra``, the point's options and ``--epochs``; an unfinished one is resumed with the same
    arguments. After ``timeout`` seconds the run's process group is killed (its finished epochs stay).
    """
    name = run_name(point)
    folder = Path(runs_dir) / dataset / name
    options = [*extra, "--epochs", str(epochs)]
    for key, value in point.items():
        dest = key.replace("-", "_")
        value = _absolute(value, cwd or os.getcwd()) if f"--{dest.replace('_', '-')}" in PATH_OPTIONS else value
        options += [f"--{dest.replace('_', '-')}", value]
    note = ""
    if runs.unstarted(folder):  # created, but its run stopped before it wrote config.json: start it again
        shutil.rmtree(folder)
        note = f"{folder} had no config.json (interrupted before its run started): started again\n"
    if folder.exists():
        try:
            done = runs.checkpoint_epoch(folder)
        except runs.RunFolderError as error:
            return _outcome("failed", folder, str(error))
        if done >= epochs:
            return _outcome("skipped (finished)", folder)
        argv = ["--resume", str(folder), *options]
        status = f"finished (resumed after epoch {done})"
    else:
        argv = [*options, "--results-dir", runs_dir, "--run-name", name]
        status = "finished"
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)  # where this worker imports protocols from
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    log_path = Path(log) if log else folder.parent / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    parent = os.getpid()
    tic = time.perf_counter()
    with log_path.open("a") as out:
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        out.write(f"=== {stamp} python -m protocols.{dataset} {shlex.join(argv)}\n{note}")
        out.flush()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, dataset, *argv],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd if cwd and os.path.isdir(cwd) else None,
            env=env,
            start_new_session=True,
            preexec_fn=(lambda: _die_with_parent(parent)) if sys.platform.startswith("linux") else None,
        )
        try:
            _, err = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGTERM)  # the run and the compiler or compiled program it started
            try:
                _, err = proc.communicate(timeout=GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                _, err = proc.communicate()
            _signal_group(proc.pid, signal.SIGKILL)  # whatever is left of the group
            timed_out = True
        seconds = time.perf_counter() - tic
        out.write(err)
        if timed_out:
            error = f"killed after {timeout:g} s (--timeout), {_finished(folder)} epochs finished"
            out.write(f"=== timeout: {error}\n")
            return _outcome("timeout", folder, error, seconds)
        if proc.returncode < 0:
            error = f"killed by {signal.Signals(-proc.returncode).name}, {_finished(folder)} epochs finished"
        elif proc.returncode > 0:
            error = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        else:
            out.write(f"=== {status}\n")
            return _outcome(status, folder, "", seconds)
        out.write(f"=== failed: {error}\n")
        return _outcome("failed", folder, error, seconds)


def _finished(folder: Path) -> int:
    try:
        return runs.checkpoint_epoch(folder)
    except runs.RunFolderError:
        return 0


def sweep_folder(results_dir, dataset, grid, epochs, extra, cwd=None) -> Path:
    """The sweep's folder; relative paths (``results_dir``, those in ``extra``) are taken from ``cwd``."""
    cwd = os.getcwd() if cwd is None else cwd
    key = json.dumps([dataset, grid, epochs, absolute_paths(dataset, extra, cwd)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return Path(_absolute(str(results_dir), cwd)) / "sweeps" / f"{dataset}-{digest}"


def write_table(folder: Path, points: list[dict], outcomes: list[dict]) -> Path:
    """One tidy table: a row per run, epoch and split (a single row for a run that has no metrics)."""
    rows = []
    keys = list(points[0])
    for point, outcome in zip(points, outcomes):
        base = {**point, "run": run_name(point), "status": outcome["status"], "error": outcome["error"]}
        metrics = Path(outcome["folder"]) / "metrics.csv" if outcome.get("folder") else None
        table = []
        if metrics is not None and metrics.is_file():
            with metrics.open() as f:
                table = list(csv.DictReader(f))
        for row in table:
            rows.append({**base, **{c: row[c] for c in ("epoch", "split", "accuracy", "seconds", "samples_per_s")}})
        if not table:
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
        return Client(scheduler, timeout="30s"), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def _task_error(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if type(error).__name__ == "KilledWorker":  # the workers died (killed, out of memory) on every try
        last = re.search(r"task was (\S+?)\.?(\s|$)", text)
        return "the worker died while running it (KilledWorker" + (f", last on {last[1]})" if last else ")")
    return f"{type(error).__name__}: {text}"


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
    parser.add_argument(
        "--timeout",
        type=cli.positive(float),
        default=None,
        metavar="SECONDS",
        help="kill a run after this long (status 'timeout'; its finished epochs stay, the next sweep resumes it)",
    )
    args = parser.parse_args(own)
    cwd = os.getcwd()
    try:
        points = parse_grid(args.grid)
        defaults = importlib.import_module(f"protocols.{args.dataset}").DEFAULTS
        protocol_options = {a.dest for a in cli.build_parser(args.dataset, defaults)._actions}
        for key in points[0]:
            dest = key.replace("-", "_")
            if dest not in protocol_options or dest in ("resume", "results_dir", "run_name", "epochs", "help"):
                raise GridError(f"grid name {key!r} is not an option of protocols.{args.dataset}")
        extra = absolute_paths(args.dataset, extra, cwd)
        folder = sweep_folder(args.results_dir, args.dataset, args.grid, args.epochs, extra, cwd)
        (folder / "runs").mkdir(parents=True, exist_ok=True)
    except GridError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{parser.prog}: error: cannot create the sweep folder: {error.strerror}", file=sys.stderr)
        return 2
    (folder / "command.json").write_text(json.dumps({"argv": argv, "cwd": cwd, "grid": points}, indent=2))
    print(f"sweep folder: {folder} ({len(points)} runs)", flush=True)
    from dask.distributed import as_completed

    try:
        client, cluster = client_for(args.scheduler, args.workers)
    except (OSError, TimeoutError) as error:
        print(f"{parser.prog}: error: cannot reach the scheduler {args.scheduler}: {error}", file=sys.stderr)
        return 2
    tic = time.perf_counter()
    runs_dir = folder / "runs"
    try:
        futures = {
            client.submit(
                run_point,
                args.dataset,
                p,
                args.epochs,
                extra,
                str(runs_dir),
                args.timeout,
                str(folder / "logs" / f"{run_name(p)}.log"),
                cwd,
                pure=False,
            ): k
            for k, p in enumerate(points)
        }
        outcomes: list[dict] = [{}] * len(points)
        for done, future in enumerate(as_completed(futures), start=1):
            k = futures[future]
            try:
                outcomes[k] = future.result()
            except Exception as error:  # a killed worker, a lost task, a worker that cannot import protocols
                run = runs_dir / args.dataset / run_name(points[k])
                outcomes[k] = _outcome("failed", run, f"{_task_error(error)}, {_finished(run)} epochs finished")
            o = outcomes[k]
            detail = f": {o['error']}" if o["error"] else f" in {o['seconds']:.1f} s"
            print(f"[{done}/{len(points)}] {run_name(points[k])} {o['status']}{detail}", flush=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    table = write_table(folder, points, outcomes)
    failed = sum(o["status"] == "failed" for o in outcomes)
    timeouts = sum(o["status"] == "timeout" for o in outcomes)
    print(
        f"{len(points) - failed - timeouts} runs finished, {failed} failed, {timeouts} timed out, "
        f"{time.perf_counter() - tic:.1f} s; table: {table}"
    )
    return 1 if failed or timeouts else 0


if __name__ == "__main__":
    sys.exit(main())

"""The Dask sweep layer: grid expansion, LocalClusters, failures, a crashed run, a timeout, `dask scheduler` and
`dask worker` processes with a killed worker, the table, resume."""

import contextlib
import csv
import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from protocols import runs, sweep


def test_grid_expansion():
    points = sweep.parse_grid("rule=brp;T=10,20;seed=0,1,2")
    assert len(points) == 6
    assert points[0] == {"rule": "brp", "T": "10", "seed": "0"}
    assert points[-1] == {"rule": "brp", "T": "20", "seed": "2"}
    assert sweep.run_name(points[1]) == "rule=brp_T=10_seed=1"


@pytest.mark.parametrize("text", ["", "T", "T=", "=1", "T=1;T=2"])
def test_bad_grids(text):
    with pytest.raises(sweep.GridError):
        sweep.parse_grid(text)


def test_unknown_grid_name_exits_2(capsys, tmp_path):
    assert sweep.main(["--dataset", "digits", "--grid", "colour=red", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'colour' is not an option of protocols.digits" in err and len(err.strip().splitlines()) == 1


@pytest.mark.standalone
def test_sweep_runs_records_failures_and_resumes(tmp_path, build_cache, capsys):
    argv = [
        "--dataset",
        "digits",
        "--grid",
        "lr=0.003,-1;seed=0,1",
        "--epochs",
        "1",
        "--workers",
        "2",
        "--results-dir",
        str(tmp_path),
        "--",
        "--topology",  # the structure of the small protocol tests: their compiled program is reused
        "FC_30_FC_10",
        "--limit-train",
        "200",
        "--limit-test",
        "50",
        "--cache-dir",
        str(build_cache),
    ]
    assert sweep.main(argv) == 1, "two runs have an invalid learning rate"
    (folder,) = list((tmp_path / "sweeps").iterdir())
    with (folder / "sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    finished = [r for r in rows if r["status"].startswith("finished")]
    failed = [r for r in rows if r["status"] == "failed"]
    assert {(r["seed"], r["split"]) for r in finished} == {("0", "train"), ("0", "test"), ("1", "train"), ("1", "test")}
    assert all(0 <= float(r["accuracy"]) <= 1 and float(r["samples_per_s"]) > 0 for r in finished)
    assert len(failed) == 2 and all("must be a positive float" in r["error"] for r in failed)
    assert all(r["lr"] == "-1" for r in failed)
    capsys.readouterr()

    assert sweep.main(argv) == 1
    out = capsys.readouterr().out
    assert out.count("skipped (finished)") == 2, out
    with (folder / "sweep.csv").open() as f:
        again = list(csv.DictReader(f))
    assert [r["accuracy"] for r in again if r["lr"] == "0.003"] == [r["accuracy"] for r in finished]


# The structure of the small protocol tests (test_protocols.py): their compiled program is reused.
SMALL = ["--topology", "FC_30_FC_10", "--limit-train", "200", "--limit-test", "50"]


def read_rows(folder):
    with (folder / "sweep.csv").open() as f:
        return list(csv.DictReader(f))


SWEEP_ENDED = threading.Event()  # set when the sweep that a Background action watches has returned


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if SWEEP_ENDED.is_set():
            raise AssertionError(f"the sweep ended before a {what} was seen")
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {seconds} s")


def run_processes(runs_dir):
    """The live run processes that a sweep started for the run folders under ``runs_dir``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if sweep.CHILD in cmdline and any(str(runs_dir) in a for a in cmdline):
            if proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def gone(procs, timeout: float = 30.0):
    """Whether every process has ended (or is a zombie) within ``timeout`` s: a run orphaned by a killed worker
    gets SIGTERM from the kernel (PR_SET_PDEATHSIG), and its Python handler runs between bytecodes, so it may
    still be ending when the sweep has already reported the worker's death."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in procs):
                return True
        except psutil.NoSuchProcess:
            continue
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


class Background(threading.Thread):
    """``action()`` in a thread while the sweep runs in the test's; its result or error after ``join``."""

    def __init__(self, action):
        super().__init__(daemon=True)
        self.action, self.result, self.error = action, None, None
        SWEEP_ENDED.clear()
        self.start()

    def run(self):
        try:
            self.result = self.action()
        except BaseException as error:  # reported by outcome()
            self.error = error

    def outcome(self):
        SWEEP_ENDED.set()
        self.join(120)
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def no_core_files():
    """Runs killed with SIGSEGV write no core file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    yield
    resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


@pytest.mark.standalone
def test_crashed_run_keeps_its_epochs_and_a_timeout_stops_its_resumption(tmp_path, build_cache, no_core_files):
    extra = [*SMALL, "--cache-dir", str(build_cache)]
    argv = ["--dataset", "digits", "--grid", "seed=0", "--epochs", "30", "--workers", "1"]
    argv += ["--results-dir", str(tmp_path)]
    folder = sweep.sweep_folder(tmp_path, "digits", "seed=0", 30, extra)
    run = folder / "runs" / "digits" / "seed=0"
    run.mkdir(parents=True)
    (run / "config.json.tmp").write_text('{"settings": {')  # a run interrupted before its config.json was written

    def crash_the_compiled_program():
        """SIGSEGV to the compiled program once an epoch is finished: the run then dies with a traceback."""
        wait_for(lambda: (run / "checkpoint.npz").exists(), 150, "finished epoch")
        (proc,) = wait_for(lambda: run_processes(folder), 10, "run process")
        program = wait_for(lambda: [c for c in proc.children() if c.name() == "main"], 30, "compiled program")
        program[0].send_signal(signal.SIGSEGV)
        return proc

    crash = Background(crash_the_compiled_program)
    assert sweep.main([*argv, "--", *extra]) == 1
    proc = crash.outcome()
    rows = read_rows(folder)
    epochs = [int(r["epoch"]) for r in rows if r["split"] == "test"]
    finished = runs.checkpoint_epoch(run)
    assert 1 <= finished < 30 and epochs[:finished] == list(range(1, finished + 1))
    assert all(r["status"] == "failed" and r["error"].startswith("RuntimeError: Project run failed") for r in rows)
    log = (folder / "logs" / "seed=0.log").read_text()
    assert "had no config.json (interrupted before its run started): started again" in log
    assert "Traceback (most recent call last)" in log and "=== failed: RuntimeError" in log
    assert gone([proc])

    # the same sweep with --timeout: the run is resumed with all its arguments, then killed; its epochs stay
    assert sweep.main([*argv, "--timeout", "2", "--", *extra]) == 1
    again = read_rows(folder)
    assert all(r["status"] == "timeout" for r in again)
    assert all(r["error"] == f"killed after 2 s (--timeout), {finished} epochs finished" for r in again)
    assert [int(r["epoch"]) for r in again if r["split"] == "test"][:finished] == epochs[:finished]
    assert runs.checkpoint_epoch(run) == finished
    attempts = [line for line in (folder / "logs" / "seed=0.log").read_text().splitlines() if line.startswith("=== 2")]
    assert len(attempts) == 2
    assert f"--resume {run} {shlex.join(extra)} --epochs 30 --seed 0" in attempts[1]
    assert gone(run_processes(folder))


@pytest.fixture
def dask_cluster(tmp_path):
    """``dask scheduler`` and ``dask worker`` (one process, one thread) from the venv, started outside the project.

    A worker that dies fails its task at once (allowed-failures 0) and gets one task at a time.
    """
    bin_dir = Path(sys.executable).parent
    place = tmp_path / "cluster"
    place.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run([sys.executable, "-c", "import protocols"], cwd=place, env=env, capture_output=True)
    if probe.returncode != 0:
        pytest.fail("Dask workers cannot import the project: install it with pip install --no-build-isolation -e .")
    env |= {
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
        "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    commands = [
        [bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        [
            bin_dir / "dask",
            "worker",
            address,
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
        ],
    ]
    procs = []
    try:
        for k, command in enumerate(commands):
            with (place / f"{k}.log").open("w") as log:
                procs.append(
                    subprocess.Popen(
                        command,
                        cwd=place,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield address
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.standalone
def test_sweep_on_a_dask_scheduler_with_a_killed_worker(tmp_path, build_cache, dask_cluster, monkeypatch):
    """Real scheduler and worker processes: they import the installed project (pip install -e .)."""
    user = tmp_path / "user"
    user.mkdir()
    monkeypatch.chdir(user)  # relative paths are the user's
    (user / "metrics.csv").write_text("epoch,split,accuracy,seconds,samples_per_s\n99,test,1.0,1.0,1.0\n")  # a decoy
    extra = [*SMALL, "--cache-dir", str(build_cache)]
    argv = ["--dataset", "digits", "--grid", "seed=0", "--epochs", "1", "--scheduler", dask_cluster]
    argv += ["--results-dir", "results", "--", *extra]
    folder = user / "results" / "sweeps" / sweep.sweep_folder("results", "digits", "seed=0", 1, extra).name

    def kill_the_worker():
        """SIGKILL to the worker process of the run, as soon as the run starts."""
        (proc,) = wait_for(lambda: run_processes(folder), 120, "run process")
        psutil.Process(proc.ppid()).kill()
        return proc

    kill = Background(kill_the_worker)
    assert sweep.main(argv) == 1
    proc = kill.outcome()
    (killed,) = read_rows(folder)
    assert killed["status"] == "failed" and killed["error"].startswith("the worker died while running it (KilledWorker")
    assert killed["epoch"] == killed["accuracy"] == "", "no metrics from the working directory"
    assert gone([proc])

    # the nanny has started a new worker: the same sweep runs the run to its end
    assert sweep.main(argv) == 0
    rows = read_rows(folder)
    assert [(r["epoch"], r["split"]) for r in rows] == [("1", "train"), ("1", "test")]
    assert all(r["status"].startswith("finished") and r["error"] == "" for r in rows)
    assert (folder / "runs" / "digits" / "seed=0" / "metrics.csv").is_file()

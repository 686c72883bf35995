"""Brian2 device set-up in one place: runtime (numpy) and cpp_standalone with a build cache.

Standalone programs are built once per structure into ``<cache>/<device>-<hash>``
(the hash of :meth:`NetworkSpec.key`, the code version and the host CPU target);
a later process with the same structure regenerates identical sources, which
Brian2 does not rewrite, so ``make`` recompiles nothing (the seed is passed at
run time, so a new seed recompiles nothing either).  Data sets are stored once
per cache and hard-linked into the build folders (:func:`share_large_arrays`).

A process holds its build folder (a lock file) while it uses it; a second
process of the same structure takes the next free folder ``...-1``.  Builds of
one structure take turns (a second lock), and a new folder starts as a copy of
an already compiled sibling, so concurrent runs of one structure compile once.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import brian2
import numpy as np
from brian2 import device, prefs, set_device
from brian2.codegen.cpp_prefs import get_compiler_and_args

STANDALONE_DEVICES = ("cpp_standalone", "cuda_standalone")
DEVICES = ("runtime", *STANDALONE_DEVICES)
DEFAULT_CACHE = Path(os.environ.get("BRP_SNN_CACHE", Path.home() / ".cache" / "brp_snn"))
MODELS_DIR = Path(__file__).resolve().parent


PRECISIONS = {"float64": np.float64, "float32": np.float32}
# brian2 already compiles with -O3 -ffast-math -march=native; unrolling measured a few % faster here.
# -fno-associative-math: floating-point expressions are evaluated as Brian2 generates them. With -ffast-math's
# reassociation the compiler orders a product such as inv_T * (delta_post * cnt_pre) differently in loops of
# different shapes, so the queue-free propagation (models/propagation) and Brian2's path would differ in the
# last bits; without it, both give the same arrays, bit for bit.
EXTRA_GCC_ARGS = ["-funroll-loops", "-fno-associative-math"]
# The standard headers of Brian2's generated C++. Parsing them was 80% of each file's compile time here, so
# cpp_standalone builds include them precompiled: gcc uses the .gch only where it was built with the same
# flags, and otherwise reads the header itself (same program, slower build).
STANDARD_HEADERS = (
    "algorithm", "cassert", "chrono", "climits", "cmath", "cstddef", "cstdlib", "cstring", "ctime", "fstream",
    "iostream", "iterator", "limits", "map", "random", "stdint.h", "type_traits", "vector",
)  # fmt: skip
PCH_FLAG = "-include"


def set_precision(precision: str) -> None:
    """Floating-point type of every state variable (float32 is faster in cpp_standalone)."""
    try:
        prefs.core.default_float_dtype = PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}; expected one of {sorted(PRECISIONS)}") from None


@contextlib.contextmanager
def runtime(seed: int, precision: str = "float64"):
    """Brian2's runtime device with the numpy target (no compilation), seeded."""
    set_device("runtime")
    prefs.codegen.target = "numpy"
    set_precision(precision)
    brian2.seed(seed)
    try:
        yield
    finally:
        set_precision("float64")


class DeviceError(RuntimeError):
    """A device that cannot be used here (a missing package or compiler)."""


def _curand_paths() -> tuple[Path, Path]:
    """Header and library folders of cuRAND from the ``nvidia-curand`` wheel (no CUDA toolkit copy needed)."""
    spec = importlib.util.find_spec("nvidia")
    for root in spec.submodule_search_locations if spec else []:
        for header in sorted(Path(root).glob("*/include/curand.h")):
            library = header.parent.parent / "lib"
            if any(library.glob("libcurand.so*")):
                return header.parent, library
    raise DeviceError("--device cuda needs cuRAND: pip install -r requirements-gpu.txt (the nvidia-curand wheel)")


def device_of_option(option: str) -> str:
    """Brian2's device for a command line's ``--device`` value (``cuda`` is brian2cuda's ``cuda_standalone``)."""
    return "cuda_standalone" if option == "cuda" else option


def check_device(device_name: str) -> None:
    """Raise :class:`DeviceError` naming what is missing for ``device_name``."""
    if device_name not in DEVICES:
        raise DeviceError(f"unknown device {device_name!r}; expected one of {DEVICES}")
    if device_name != "cuda_standalone":
        return
    try:
        import brian2cuda  # noqa: F401  (registers the cuda_standalone device)
    except ImportError:
        raise DeviceError("--device cuda needs brian2cuda: pip install -r requirements-gpu.txt") from None
    if shutil.which("nvcc") is None:
        raise DeviceError("--device cuda needs the CUDA compiler nvcc on the PATH (the CUDA toolkit)")
    _curand_paths()


def configure_cuda(cache_root: Path) -> None:
    """brian2cuda settings; without a GPU (no nvidia-smi) the code is compiled for ``BRP_SNN_CUDA_CC`` (9.0)."""
    check_device("cuda_standalone")
    backend = prefs.devices.cuda_standalone.cuda_backend
    if shutil.which("nvidia-smi") is None:
        backend.detect_gpus = False
        backend.gpu_id = 0
        backend.compute_capability = float(os.environ.get("BRP_SNN_CUDA_CC", "9.0"))
    include, library = _curand_paths()
    link_dir = cache_root / "curand-link"  # -lcurand needs a libcurand.so next to the wheel's .so.10
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / "libcurand.so"
    if not link.exists():
        link.symlink_to(sorted(library.glob("libcurand.so*"))[-1])
    for pref, value in (("include_dirs", include), ("library_dirs", link_dir), ("runtime_library_dirs", library)):
        current = list(prefs.codegen.cpp[pref])
        if str(value) not in current:
            prefs.codegen.cpp[pref] = current + [str(value)]
    # CUDA 13's Thrust, CUB and libcu++ need C++17 (brian2cuda asks for C++11)
    backend.extra_compile_args_nvcc = ["-w", "-use_fast_math", "-std=c++17"]
    gcc_args = list(prefs.codegen.cpp.extra_compile_args_gcc)
    prefs.codegen.cpp.extra_compile_args_gcc = [a for a in gcc_args if not a.startswith("-std=")] + ["-std=c++17"]


def precompiled_header(cache_root: Path, compile_args: list[str]) -> Path | None:
    """:data:`STANDARD_HEADERS` in one header, precompiled once per compiler and ``compile_args``.

    Returns the header to include (``-include``), or None where the compiler cannot precompile it.
    """
    compiler = os.environ.get("CXX", "g++")  # what Brian2's makefile calls
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    flags = ["-Wno-write-strings", *compile_args]  # as in Brian2's makefile (CXXFLAGS)
    digest = hashlib.sha256("\n".join([compiler, version, *flags]).encode()).hexdigest()[:16]
    folder = cache_root / f"pch-{digest}"
    header, compiled = folder / "brp_std.h", folder / "brp_std.h.gch"
    if compiled.exists():
        return header
    folder.mkdir(parents=True, exist_ok=True)
    mine = f".{os.getpid()}"  # concurrent processes each write their own files, then rename them into place
    text = "".join(f"#include <{name}>\n" for name in STANDARD_HEADERS)
    Path(f"{header}{mine}").write_text(text)
    os.replace(f"{header}{mine}", header)
    command = [compiler, "-x", "c++-header", *flags, str(header), "-o", f"{compiled}{mine}"]
    if subprocess.run(command, capture_output=True).returncode != 0:
        Path(f"{compiled}{mine}").unlink(missing_ok=True)
        return None
    os.replace(f"{compiled}{mine}", compiled)
    return header


def host_target() -> str:
    """What ``-march=native`` means on this machine for this compiler (e.g. 'g++ 13.2.0 znver3 <digest>').

    Brian2 compiles with ``-march=native``: a program built on one CPU may stop with an illegal instruction on
    another, so a build cache shared between machines (a cluster's file system) keys builds by it.
    """
    compiler = os.environ.get("CXX", "g++")
    try:
        version = subprocess.run([compiler, "-dumpfullversion"], capture_output=True, text=True, check=True).stdout
        options = subprocess.run(
            [compiler, "-march=native", "-Q", "--help=target"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"{compiler} (target unknown)"
    march = next((line.split()[-1] for line in options.splitlines() if line.strip().startswith("-march=")), "?")
    digest = hashlib.sha256(options.encode()).hexdigest()[:12]
    return f"{Path(compiler).name} {version.strip()} {march} {digest}"


def code_version() -> str:
    """A digest of the model code (templates included) and the Brian2 version: a compiled program is reused
    only by the same code."""
    digest = hashlib.sha256(brian2.__version__.encode())
    for path in sorted([*MODELS_DIR.rglob("*.py"), *MODELS_DIR.rglob("*.cpp")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


SHARED_ARRAYS = "arrays"  # content-addressed store of large static arrays (the data sets), under the cache root
SHARED_MIN_BYTES = 1 << 20
BUILD_RECORD = "build.json"  # what a build folder holds: structure key, device, host target, code version


def share_large_arrays(static_arrays: Path, store: Path) -> None:
    """Replace every static array file of at least :data:`SHARED_MIN_BYTES` by a hard link to one copy of its
    content in ``store`` (named by its sha256), so the data set is stored once, not once per build folder.

    Only a folder's owner (its lock) relinks it, and stored files are never written again, so a program that
    reads one while another folder is built sees complete data. Where hard links are impossible (another file
    system), the copy stays.
    """
    store.mkdir(parents=True, exist_ok=True)
    for path in sorted(static_arrays.glob("*")):
        if path.stat().st_size < SHARED_MIN_BYTES or path.stat().st_nlink > 1:
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                digest.update(block)
        stored = store / digest.hexdigest()
        try:
            if not stored.exists():
                mine = store / f".{stored.name}.{os.getpid()}"
                os.link(path, mine)  # the file just written becomes the stored copy
                os.replace(mine, stored)
            else:
                mine = static_arrays / f".{path.name}.{os.getpid()}"
                os.link(stored, mine)
                os.replace(mine, path)
        except OSError:
            continue


PROGRESS_POLL = 0.5  # seconds between two reads of a running program's progress report


def _follow_progress(stdout: Path, progress, done: threading.Event) -> None:
    """Call ``progress`` with the last fraction that the program wrote to ``stdout`` until ``done``, then once
    more with the final one."""
    last = None
    while True:
        finished = done.wait(PROGRESS_POLL)
        try:
            with stdout.open("rb") as file:
                file.seek(max(0, stdout.stat().st_size - 256))
                lines = [line.split() for line in file.read().decode(errors="replace").splitlines()]
        except FileNotFoundError:
            lines = []
        fractions = [line[1] for line in lines if len(line) == 3 and line[0] == "progress"]
        if fractions and fractions[-1] != last:
            last = fractions[-1]
            progress(float(last))
        if finished:
            return


class StandaloneBuild:
    """One compiled ``cpp_standalone`` program in the build cache, rerun with ``run_args``.

    The cache is keyed by the network's structure (``key``) and :func:`code_version`.
    """

    def __init__(self, key: str, device_name: str = "cpp_standalone", cache_dir=None):
        if device_name not in STANDALONE_DEVICES:
            raise ValueError(f"{device_name!r} is not a standalone device; expected one of {STANDALONE_DEVICES}")
        self.host = host_target()
        digest = hashlib.sha256(f"{key}|{code_version()}|{self.host}".encode()).hexdigest()[:16]
        gc.collect()  # an unreachable earlier build of this process releases its folder's lock
        root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
        root.mkdir(parents=True, exist_ok=True)
        for k in range(64):
            directory = root / (f"{device_name}-{digest}" + ("" if k == 0 else f"-{k}"))
            lock = open(f"{directory}.lock", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            self.directory, self._lock = directory, lock
            break
        else:
            raise RuntimeError(f"no free build folder for {key!r} under {root}")
        self.device_name, self.key = device_name, key
        self._cache_root = root
        self._family = root / f"{device_name}-{digest}"

    @contextlib.contextmanager
    def activate(self, seed: int, precision: str = "float64"):
        if self.device_name == "cuda_standalone":
            configure_cuda(self._cache_root)
        set_device(self.device_name, build_on_run=False, directory=str(self.directory))
        device.reinit()
        # Objects of an earlier network in this process would keep their names (e.g. 'hidden1_clock'), so the
        # new ones would get suffixes, change the generated code and make recompile everything: free them first.
        gc.collect()
        device.activate(build_on_run=False, directory=str(self.directory))
        prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]
        gcc_args = [a for a in prefs.codegen.cpp.extra_compile_args_gcc if not a.startswith(PCH_FLAG)]
        gcc_args += [a for a in EXTRA_GCC_ARGS if a not in gcc_args]
        prefs.codegen.cpp.extra_compile_args_gcc = gcc_args
        if self.device_name == "cpp_standalone":
            header = precompiled_header(self._cache_root, get_compiler_and_args()[1])
            if header is not None:
                prefs.codegen.cpp.extra_compile_args_gcc = gcc_args + [PCH_FLAG + str(header)]
        set_precision(precision)
        brian2.seed(seed)
        try:
            yield
        finally:
            set_precision("float64")

    def seed_each_run(self, variable) -> None:
        """Seed the program's random numbers at the start of every run with ``variable``'s value, which each
        run sets through ``run_args`` (call before the network's run, after everything that draws numbers
        while the network is built). Without it, every run would replay the seed compiled into main.

        Brian2's own ``seed()`` gives thread k the seed s + k; so does this (one MT19937 per OpenMP thread;
        brian2cuda: cuRAND's generator).
        """
        device.apply_run_args()  # run_args are applied here instead of just before the run
        value = f"brian::{device.get_array_name(variable)}[0]"
        if self.device_name == "cuda_standalone":
            code = f"random_number_buffer.set_seed((unsigned long long) {value});"
        else:
            code = (
                "for (size_t _k = 0; _k < brian::_random_generators.size(); _k++)\n"
                f"    brian::_random_generators[_k].seed((unsigned long) {value} + _k);"
            )
        device.insert_code("main", code)

    def build(self, compile: bool = True):
        """Generate the program's code into :attr:`directory` and, with ``compile``, compile it."""
        with open(f"{self._family}.build.lock", "w") as build_lock:
            fcntl.flock(build_lock, fcntl.LOCK_EX)  # builds of one structure take turns
            if not (self.directory / "main").exists():
                self._copy_compiled_sibling()
            static = self.directory / "static_arrays"
            for path in static.glob("*") if static.is_dir() else ():
                if path.stat().st_nlink > 1:
                    path.unlink()  # a link into the shared store: Brian2 must not write through it
            device.build(directory=str(self.directory), compile=compile, run=False, with_output=False)
            share_large_arrays(static, self._cache_root / SHARED_ARRAYS)
            record = {"key": self.key, "device": self.device_name, "host": self.host, "code": code_version()}
            (self.directory / BUILD_RECORD).write_text(json.dumps(record, indent=1) + "\n")

    def _copy_compiled_sibling(self) -> None:
        """Start from a compiled folder of the same structure: make then rebuilds only what differs."""
        siblings = [self._family] + sorted(self._family.parent.glob(f"{self._family.name}-*[0-9]"))
        for sibling in siblings:
            if sibling != self.directory and (sibling / "main").exists():
                # leave out results and run_args arrays (named init_*) that a running process may be writing
                ignore = shutil.ignore_patterns("results", "init_*", "*.lock", "static_arrays")
                shutil.copytree(sibling, self.directory, ignore=ignore, dirs_exist_ok=True)
                return

    def run(self, run_args: dict, progress=None, echo: bool = False):
        """One run of the compiled program.

        Its output (the progress lines of ``models.training.REPORT_CODE``) goes to the console with ``echo``;
        otherwise to ``results/stdout.txt``, which a thread reads while it runs to call ``progress(fraction)``.
        """
        results = Path(device.results_dir or self.directory / "results")
        stdout = results / "stdout.txt"
        stdout.unlink(missing_ok=True)  # the last run's report must not be read as this one's
        done = threading.Event()
        watcher = None
        if progress is not None and not echo:
            watcher = threading.Thread(target=_follow_progress, args=(stdout, progress, done), daemon=True)
            watcher.start()
        try:
            # Brian2 then checks every variable against 1e50, which overflows when cast to float32: harmless, silenced
            with np.errstate(over="ignore"):
                device.run(directory=str(self.directory), with_output=echo, run_args=run_args)
        finally:
            done.set()
            if watcher is not None:
                watcher.join()
        # Brian2 keeps every run_args array as a new file; drop this run's once they have been read
        for name in device.run_args_arrays:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / "static_arrays" / name).unlink()

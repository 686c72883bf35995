"""The build cache: precompiled standard headers, the host in the key, shared data, listing and pruning."""

import gc
import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest

from models import devices
from models.devices import precompiled_header
from models.training import Trainer
from protocols import cache
from tests.test_training import small_problem

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

SOURCE = """
#include <vector>
#include <iostream>
int main() { std::vector<double> v(3, 1.5); std::cout << v[2] << std::endl; return 0; }
"""


def compile_with(header, flags, tmp_path):
    source = tmp_path / "program.cpp"
    source.write_text(SOURCE)
    command = ["g++", "-c", "-Wno-write-strings", *flags, f"-include{header}", "-Winvalid-pch", str(source)]
    return subprocess.run([*command, "-o", str(tmp_path / "program.o")], capture_output=True, text=True)


def test_compiles_with_the_same_flags_use_the_precompiled_header_and_others_fall_back(tmp_path):
    flags = ["-O2", "-std=c++17"]
    header = precompiled_header(tmp_path / "cache", flags)
    assert header is not None and header.with_name("brp_std.h.gch").is_file()
    assert sorted(p.name for p in header.parent.iterdir()) == ["brp_std.h", "brp_std.h.gch"], "no partial files"
    built = header.with_name("brp_std.h.gch").stat().st_mtime_ns
    assert precompiled_header(tmp_path / "cache", flags) == header
    assert header.with_name("brp_std.h.gch").stat().st_mtime_ns == built, "built once per compiler and flags"

    same = compile_with(header, flags, tmp_path)
    assert same.returncode == 0 and "not used" not in same.stderr, same.stderr
    # other flags: gcc says the .gch does not fit, reads the header's text instead, and still compiles
    other = compile_with(header, ["-O0", "-std=c++17"], tmp_path)
    assert other.returncode == 0 and "not used" in other.stderr, other.stderr
    assert precompiled_header(tmp_path / "cache", ["-O0", "-std=c++17"]).parent != header.parent


def test_without_a_compiler_there_is_no_precompiled_header(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    assert precompiled_header(tmp_path / "cache", ["-O2"]) is None


def test_build_folders_share_one_copy_of_the_data_and_still_run(build_cache, monkeypatch):
    """Two folders of one structure (two processes at once): the data set is stored once, hard-linked into
    both, and the programs read it as before."""
    monkeypatch.setattr(devices, "SHARED_MIN_BYTES", 1)  # the test's data set is small
    spec, x, y, feedback, state, train, test = small_problem()
    first = Trainer(spec, x, y, feedback, seed=3, cache_dir=build_cache)
    second = Trainer(spec, x, y, feedback, seed=3, cache_dir=build_cache)  # the first holds its folder
    assert first.build_directory != second.build_directory
    data = [folder / "static_arrays" / "data_values" for folder in (first.build_directory, second.build_directory)]
    assert data[0].samefile(data[1]), "the data set should be stored once"
    stored = [p for p in (build_cache / devices.SHARED_ARRAYS).iterdir() if p.samefile(data[0])]
    assert len(stored) == 1 and stored[0].name == hashlib.sha256(data[0].read_bytes()).hexdigest()
    record = json.loads((second.build_directory / devices.BUILD_RECORD).read_text())
    assert record["host"] == devices.host_target() and record["key"].startswith(spec.key())
    # Brian2 has one device per process: the folder built last is the one this process can run
    compiled = second.run(state, train, test, 1e-2, epoch=0)[0]
    runtime = Trainer(spec, x, y, feedback, device="runtime", seed=3).run(state, train, test, 1e-2, epoch=0)[0]
    np.testing.assert_array_equal(compiled.activity["spikes"], runtime.activity["spikes"])


def test_the_host_cpu_is_part_of_the_cache_key(tmp_path, monkeypatch):
    here = devices.StandaloneBuild("structure", cache_dir=tmp_path)
    monkeypatch.setattr(devices, "host_target", lambda: "g++ 13 an-older-cpu 000")
    elsewhere = devices.StandaloneBuild("structure", cache_dir=tmp_path)
    assert here.directory.name.split("-")[1] != elsewhere.directory.name.split("-")[1]
    assert "-march" not in devices.host_target() and len(devices.host_target().split()) >= 3


def test_cache_command_lists_and_prunes_but_spares_folders_in_use(tmp_path, capsys):
    def fake_build(key):
        build = devices.StandaloneBuild(key, cache_dir=tmp_path)
        (build.directory / "static_arrays").mkdir(parents=True)
        (build.directory / "static_arrays" / "data_values").write_bytes(b"\0" * (2 << 20))
        devices.share_large_arrays(build.directory / "static_arrays", tmp_path / devices.SHARED_ARRAYS)
        return build

    held, free = fake_build("held"), fake_build("free")
    del free
    gc.collect()  # its process ended: the lock is released
    assert cache.main(["--cache-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "in use" in listing and "total 2.0 MiB" in listing, listing  # two folders, one stored copy
    assert cache.main(["--cache-dir", str(tmp_path), "--clear"]) == 0
    assert [p.name for p in cache.build_folders(tmp_path)] == [held.directory.name]
    assert (held.directory / "static_arrays" / "data_values").stat().st_size == 2 << 20
    assert cache.main(["--cache-dir", str(tmp_path / "none")]) == 2
    del held
    gc.collect()
    assert cache.main(["--cache-dir", str(tmp_path), "--prune-days", "1"]) == 0
    assert len(cache.build_folders(tmp_path)) == 1, "used today: kept"
    assert cache.main(["--cache-dir", str(tmp_path), "--clear"]) == 0
    assert cache.build_folders(tmp_path) == [] and list((tmp_path / devices.SHARED_ARRAYS).iterdir()) == []

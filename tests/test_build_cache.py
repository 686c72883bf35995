"""The build cache's precompiled standard headers (models.devices.precompiled_header)."""

import shutil
import subprocess

import pytest

from models.devices import precompiled_header

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

#!/usr/bin/env bash
# The brian2cuda check of issue 19, in one command of at most 8 minutes on a machine with an NVIDIA GPU,
# 16 cores and no network (run from the repository root, after benchmarks/prepare_gpu_check.sh here):
#
#   bash benchmarks/gpu_check.sh          # writes $OUT/summary.md, $OUT/steps.log, $OUT/details.tar.gz
#
# 1. installs the carried wheels (.whl: brian2, brian2cuda) into $GPU_CHECK_SITE (/tmp/site) unless
#    brian2cuda imports already; prints nvidia-smi, nvcc --version and the package versions;
# 2. at once: protocols.digits for 30 epochs with --device cuda and with cpp_standalone (test accuracies
#    compared), tests/test_cuda.py (test_gpu_learns_like_the_cpu_build and the error tests), and the
#    builds of benchmarks.throughput (FC_500_FC_10) and benchmarks.conv (CONV_32_5_1_2_FC_1000_FC_10)
#    for both devices on .gpu_data/mnist (--build-only);
# 3. then the timed runs of those benchmarks (--compiled-only, reusing the builds): the GPU ones one after
#    the other, once the GPU jobs of 2 have ended (or at the latest $GPU_CHECK_PHASE2_S seconds before the
#    end), the CPU ones beside them;
# 4. writes the summary: GPU and CPU names, samples/s per device and net, GPU/CPU ratios, accuracies,
#    compile seconds, each step's status and time, and which steps ran at the same time.
# Every step runs under `timeout` (to the script's deadline), and a failed step does not stop the others.
#
# Brian2's make call gets -j$GPU_CHECK_MAKE_JOBS (default: the number of cores) instead of the -j2 of
# models/devices.py, through a `make` wrapper first on the PATH. The CPU time goes to nvcc: brian2cuda
# compiles every code object on its own (FC_500_FC_10: 85 files, the conv net: 137; 27 CPU seconds a
# file on this project's 2-core development machine, 0.8 GB each), so the steps share the cores by
# priority: the digits runs first (the longest chain: build, then 30 epochs), the benchmarks' builds
# next (nice 5), tests/test_cuda.py last (nice 15: its CUDA build uses what the others leave).
#
# Dry run (GPU_CHECK_DRY=1, the default where nvidia-smi is absent): small sizes, every step run one
# after the other where there are fewer than 4 cores, and the CUDA steps stop after code generation:
# their nvcc build is skipped (the wrapper answers for make) except for the steps named in
# GPU_CHECK_DRY_NVCC (e.g. "conv,throughput,digits,pytest"), and nothing is run on a GPU.
#
# Settings (environment): OUT (./gpu_check_out), PYTHON (python3), GPU_CHECK_BUDGET (470 s, the whole
# script), GPU_CHECK_STEPS (digits,pytest,throughput,conv), GPU_CHECK_EPOCHS (30),
# GPU_CHECK_THROUGHPUT_SAMPLES (2000), GPU_CHECK_CONV_SAMPLES (500), GPU_CHECK_DATA (.gpu_data/mnist),
# GPU_CHECK_WORK (/tmp/gpu_check_work: its build caches stay for a rerun), GPU_CHECK_SITE (/tmp/site),
# GPU_CHECK_MAKE_JOBS, GPU_CHECK_PHASE2_S (150), GPU_CHECK_SERIAL, GPU_CHECK_DRY, GPU_CHECK_DRY_NVCC, GPU_CHECK_PYTEST_ALL (1:
# also test_cuda_code_generates_and_compiles_kernel_by_kernel, three nvcc compiles), GPU_CHECK_SUMMARY_ONLY (1:
# no step, only the summary again from $GPU_CHECK_WORK).
set -uo pipefail # no -e: a failed step must not stop the later ones
{                # read to the end before it runs: an edit of this file cannot change a running check

START=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
COMMAND_LINE="$(env | grep -E '^(OUT|PYTHON|GPU_CHECK_[A-Z0-9_]+)=' | sort | tr '\n' ' ')bash $0 $*"

HAVE_GPU=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && HAVE_GPU=1
DRY=${GPU_CHECK_DRY:-$((1 - HAVE_GPU))}
OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PYTHON=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET:-470}
DEADLINE=$((START + BUDGET - 30)) # the last 30 s are the summary's
STEPS=${GPU_CHECK_STEPS:-digits,pytest,throughput,conv}
if [ "$DRY" = 1 ]; then
    EPOCHS=${GPU_CHECK_EPOCHS:-2}
    TP_SAMPLES=${GPU_CHECK_THROUGHPUT_SAMPLES:-200}
    CONV_SAMPLES=${GPU_CHECK_CONV_SAMPLES:-50}
else
    EPOCHS=${GPU_CHECK_EPOCHS:-30}
    TP_SAMPLES=${GPU_CHECK_THROUGHPUT_SAMPLES:-2000}
    CONV_SAMPLES=${GPU_CHECK_CONV_SAMPLES:-500}
fi
DATA=${GPU_CHECK_DATA:-$ROOT/.gpu_data/mnist}
WORK=${GPU_CHECK_WORK:-/tmp/gpu_check_work} # a rerun on the same machine reuses its compiled programs
SITE=${GPU_CHECK_SITE:-/tmp/site}
CORES=$(nproc 2>/dev/null || echo 2)
MAKE_JOBS=${GPU_CHECK_MAKE_JOBS:-$CORES}
PHASE2_S=${GPU_CHECK_PHASE2_S:-150}
SERIAL=${GPU_CHECK_SERIAL:-$((CORES < 4 ? 1 : 0))}
DRY_NVCC=${GPU_CHECK_DRY_NVCC:-}
LOGS=$WORK/logs
SUMMARY_ONLY=${GPU_CHECK_SUMMARY_ONLY:-0} # 1: only write the summary again, from what $WORK holds
REUSED=$(cd "$WORK" 2>/dev/null && ls -d cache-* 2>/dev/null | tr '\n' ' ')
if [ "$SUMMARY_ONLY" != 1 ]; then
    rm -rf "$LOGS" "$WORK/done" "$WORK/started" "$WORK/runs" "$WORK/pytest"
    mkdir -p "$LOGS" "$WORK/done" "$WORK/runs" "$WORK/bin"
    : >"$WORK/steps.tsv"
fi
# PYTHONHASHSEED: Brian2 orders some generated code by sets of names; with a fixed seed a second process
# regenerates the same code objects, so a timed run recompiles little of its --build-only step's program
# (only main.cpp / main.cu, where Brian2 and brian2cuda reset the clocks in an order that follows their ids)
export PYTHONUNBUFFERED=1 BRP_SNN_CACHE=$WORK/cache-default PYTHONHASHSEED=0

now() { echo $(($(date +%s) - START)); }
wants() { case ",$STEPS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
nvcc_skipped() { [ "$DRY" = 1 ] && case ",$DRY_NVCC," in *",$1,"*) return 1 ;; *) return 0 ;; esac; }

# --- the make wrapper: -jN as asked, and in a dry run no nvcc build unless asked --------------------------
REAL_MAKE=$(command -v make)
mkdir -p "$WORK/bin"
cat >"$WORK/bin/make" <<EOF
#!/usr/bin/env bash
args=()
for a in "\$@"; do case \$a in -j*) args+=("-j$MAKE_JOBS") ;; *) args+=("\$a") ;; esac; done
if [ "\${GPU_CHECK_SKIP_NVCC:-0}" = 1 ] && grep -qs nvcc makefile Makefile; then
    echo "gpu_check dry run: the nvcc build is skipped (code generated in \$PWD)"
    exit 0
fi
exec "$REAL_MAKE" "\${args[@]}"
EOF
chmod +x "$WORK/bin/make"
export PATH=$WORK/bin:$PATH

# --- steps ----------------------------------------------------------------------------------------------
record() { # NAME BEGIN END STATUS TIMEOUT COMMAND
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$WORK/steps.tsv"
    touch "$WORK/done/$1"
}

run_step() { # NAME CMD...: CMD under timeout (to the deadline), its output in $LOGS/NAME.log
    local name=$1
    shift
    local begin left rc status shown="$*"
    shown=${shown//"$STOP_AFTER_BUILD"/"<stop after the build>"}
    shown=${shown//$'\n'/ }
    shown=${shown//$'\t'/ }
    begin=$(now)
    left=$((DEADLINE - $(date +%s)))
    if [ "$left" -lt 10 ]; then
        echo "[+${begin}s] $name: skipped, no time left"
        echo "skipped: no time left before the deadline" >"$LOGS/$name.log"
        record "$name" "$begin" "$begin" "skipped (no time left)" 0 "$shown"
        return
    fi
    echo "[+${begin}s] $name: start (timeout ${left} s): $shown"
    printf '$ %s\n\n' "$shown" >"$LOGS/$name.log"
    timeout -k 10 "$left" "$@" >>"$LOGS/$name.log" 2>&1
    rc=$?
    case $rc in
        0) status=ok ;;
        124 | 137) status="timed out" ;;
        *) status="failed (exit $rc)" ;;
    esac
    echo "[+$(now)s] $name: $status after $(($(now) - begin)) s"
    record "$name" "$begin" "$(now)" "$status" "$left" "$shown"
}

launch() { # a step beside the others (one after the other with GPU_CHECK_SERIAL=1)
    if [ "$SERIAL" = 1 ]; then run_step "$@"; else run_step "$@" & fi
}

await() { # NAME...: until these steps have ended (or the deadline)
    local name
    for name in "$@"; do
        while [ ! -e "$WORK/done/$name" ] && [ "$(date +%s)" -lt "$DEADLINE" ]; do sleep 2; done
    done
}

ended() { # NAME...: whether all of them have ended (or were not started)
    local name
    for name in "$@"; do [ -e "$WORK/done/$name" ] || [ ! -e "$WORK/started/$name" ] || return 1; done
}

started() { mkdir -p "$WORK/started" && touch "$WORK/started/$1"; }

# a dry run's CUDA digits: the program is generated and built, the first epoch is not run
STOP_AFTER_BUILD='
import sys
from models import training
from protocols import digits

def stop(self, *args, **kwargs):
    print(f"gpu_check dry run: the program is built in {self.build_seconds:.1f} s ({self.build_directory}), not run")
    raise SystemExit(0)

training.Trainer.run = stop
sys.exit(digits.main(sys.argv[1:]))
'

digits_step() { # NAME DEVICE RUN_NAME
    local env=() program=(-m protocols.digits)
    if [ "$2" = cuda ] && [ "$DRY" = 1 ]; then
        program=(-c "$STOP_AFTER_BUILD")
        nvcc_skipped digits && env=(env GPU_CHECK_SKIP_NVCC=1)
    fi
    started "$1"
    launch "$1" "${env[@]}" "$PYTHON" "${program[@]}" --device "$2" --epochs "$EPOCHS" --quiet \
        --results-dir "$WORK/runs" --run-name "$3" --cache-dir "$WORK/cache-digits-$2"
}

bench_args() { # BENCH DEVICE: the options of one benchmark's build and timed run
    local samples=$TP_SAMPLES
    [ "$1" = conv ] && samples=$CONV_SAMPLES
    echo "-m benchmarks.$1 --device $2 --compiled-only --samples $samples --data-dir $DATA --cache-dir $WORK/cache-$1-$2"
}

bench_step() { # NAME BENCH DEVICE build|timed
    local env=() extra=()
    if [ "$3" = cuda ] && [ "$DRY" = 1 ]; then
        extra=(--build-only) # a dry run builds again instead of running: the build is reused
        nvcc_skipped "$2" && env=(env GPU_CHECK_SKIP_NVCC=1)
    fi
    local nice=()
    [ "$4" = build ] && extra=(--build-only) && nice=(nice -n 5) # the digits runs get the cores first
    # shellcheck disable=SC2046
    run_step "$1" "${nice[@]}" "${env[@]}" "$PYTHON" $(bench_args "$2" "$3") "${extra[@]}"
}

if [ "$SUMMARY_ONLY" != 1 ]; then
# --- 1. set-up --------------------------------------------------------------------------------------------
{
    echo "gpu_check: $COMMAND_LINE (dry run: $DRY, budget $BUDGET s, work folder $WORK, $CORES cores, make -j$MAKE_JOBS)"
    echo "started $(date -u '+%Y-%m-%d %H:%M:%S UTC') on ${HOSTNAME:-?}"
    export PYTHONPATH=$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}
    if "$PYTHON" -c 'import brian2cuda' >/dev/null 2>&1; then
        echo "brian2cuda imports already: no wheels installed"
    elif ls .whl/*.whl >/dev/null 2>&1; then
        echo "installing the carried wheels into $SITE: $(ls .whl)"
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
            .whl/*.whl 2>&1 | grep -v '^WARNING: Location' || true
    else
        echo "no .whl folder (run benchmarks/prepare_gpu_check.sh where there is network)"
    fi
    "$PYTHON" -W ignore -c 'import brian2, brian2cuda; print("brian2", brian2.__version__, "brian2cuda", brian2cuda.__version__)'
    if ! command -v nvcc >/dev/null 2>&1; then
        for dir in /usr/local/cuda/bin /usr/local/cuda-*/bin /opt/cuda/bin; do
            [ -x "$dir/nvcc" ] && export PATH=$PATH:$dir && break
        done
    fi
    echo "--- nvidia-smi"
    nvidia-smi 2>&1 || echo "(no nvidia-smi)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 || true
    echo "--- nvcc --version ($(command -v nvcc))"
    nvcc --version 2>&1 || echo "(no nvcc)"
    echo "--- host"
    grep -m1 'model name' /proc/cpuinfo || true
    echo "cores: $CORES; $(free -g 2>/dev/null | awk '/^Mem/ {print "memory: " $2 " GiB"}')"
    "$PYTHON" --version
    "$PYTHON" - <<'EOF' 2>&1
from importlib import metadata
names = "brian2 brian2cuda numpy scipy sympy jinja2 cython pyparsing pandas scikit-learn threadpoolctl setuptools packaging pytest pytest-xdist nvidia-curand".split()
for name in names:
    try:
        print(f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(f"{name} (not installed)")
EOF
    echo "--- cuRAND and the cuda device check"
    if ! "$PYTHON" -W ignore -c 'from models.devices import check_device, _curand_paths
check_device("cuda_standalone"); print("cuRAND headers and library:", *_curand_paths())'; then
        # models.devices reads cuRAND from the nvidia-curand wheel; offer the CUDA toolkit's in the same layout
        toolkit=$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")
        for inc in "$toolkit/include" "$toolkit/targets/x86_64-linux/include"; do
            for lib in "$toolkit/lib64" "$toolkit/targets/x86_64-linux/lib"; do
                if [ -f "$inc/curand.h" ] && ls "$lib"/libcurand.so* >/dev/null 2>&1; then
                    mkdir -p "$SITE/nvidia/gpu_check_curand"
                    ln -sfn "$inc" "$SITE/nvidia/gpu_check_curand/include"
                    ln -sfn "$lib" "$SITE/nvidia/gpu_check_curand/lib"
                    echo "offered the toolkit's cuRAND ($inc, $lib) as $SITE/nvidia/gpu_check_curand"
                    break 2
                fi
            done
        done
        "$PYTHON" -W ignore -c 'from models.devices import check_device, _curand_paths
check_device("cuda_standalone"); print("cuRAND headers and library:", *_curand_paths())' || echo "CUDA STEPS WILL FAIL"
    fi
} >"$LOGS/setup.log" 2>&1 # a group, not a subshell: PYTHONPATH and PATH stay set
cat "$LOGS/setup.log"
record setup 0 "$(now)" ok 0 "install, versions, device check"

# --- 2. accuracy runs, tests and builds, at once -----------------------------------------------------------
PHASE1_GPU=()
if wants digits; then
    digits_step digits_gpu cuda gpu
    digits_step digits_cpu cpp_standalone cpu
    PHASE1_GPU+=(digits_gpu)
fi
if wants pytest; then
    pytest_args=(-q tests/test_cuda.py --basetemp "$WORK/pytest")
    # test_cuda_code_generates_and_compiles_kernel_by_kernel compiles three kernels that the other CUDA
    # steps compile too: left out unless GPU_CHECK_PYTEST_ALL=1 (or, in a dry run, nvcc is asked for)
    if [ "${GPU_CHECK_PYTEST_ALL:-0}" != 1 ] && { [ "$DRY" != 1 ] || nvcc_skipped pytest; }; then
        pytest_args+=(-k "not generates_and_compiles")
    fi
    started pytest_cuda
    launch pytest_cuda nice -n 15 "$PYTHON" -m pytest "${pytest_args[@]}"
    PHASE1_GPU+=(pytest_cuda)
fi
BUILDS=()
for bench in throughput conv; do
    wants $bench || continue
    for device in cuda cpp_standalone; do
        started "build_${bench}_$device"
        BUILDS+=("build_${bench}_$device")
        if [ "$SERIAL" = 1 ]; then
            bench_step "build_${bench}_$device" $bench $device build
        else
            bench_step "build_${bench}_$device" $bench $device build &
        fi
    done
done

# --- 3. timed benchmark runs --------------------------------------------------------------------------------
GATE=$((DEADLINE - PHASE2_S))
while [ "$(date +%s)" -lt "$GATE" ] && ! ended "${BUILDS[@]}"; do sleep 2; done
cpu_chain() {
    for bench in throughput conv; do
        wants $bench || continue
        await "build_${bench}_cpp_standalone"
        bench_step "${bench}_cpp_standalone" $bench cpp_standalone timed
    done
}
gpu_chain() {
    while [ "$(date +%s)" -lt "$GATE" ] && ! ended "${PHASE1_GPU[@]}"; do sleep 2; done
    local busy=()
    for name in "${PHASE1_GPU[@]}"; do [ -e "$WORK/done/$name" ] || busy+=("$name"); done
    [ "${#busy[@]}" -gt 0 ] && echo "[+$(now)s] the timed GPU runs start while ${busy[*]} still run (deadline)"
    for bench in throughput conv; do
        wants $bench || continue
        await "build_${bench}_cuda"
        bench_step "${bench}_cuda" $bench cuda timed
    done
}
if [ "$SERIAL" = 1 ]; then
    gpu_chain
    cpu_chain
else
    gpu_chain &
    cpu_chain &
fi
wait
fi # not SUMMARY_ONLY

# --- 4. summary ----------------------------------------------------------------------------------------------
echo "[+$(now)s] all steps ended; writing $OUT/summary.md"
export GPU_CHECK_SUMMARY_ARGS="$WORK|$OUT|$DRY|$EPOCHS|$TP_SAMPLES|$CONV_SAMPLES|$BUDGET|$MAKE_JOBS|$SERIAL|$REUSED|$COMMAND_LINE"
if ! "$PYTHON" - <<'EOF'; then
import csv
import os
import re
from pathlib import Path

work, out, dry, epochs, tp_samples, conv_samples, budget, make_jobs, serial, reused, command = os.environ[
    "GPU_CHECK_SUMMARY_ARGS"
].split("|", 10)
work, out, dry = Path(work), Path(out), dry == "1"
logs = work / "logs"


def log(name):
    path = logs / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def find(pattern, text, group=1, default=None):
    found = re.findall(pattern, text, flags=re.M)
    if not found:
        return default
    last = found[-1]
    return last[group - 1] if isinstance(last, tuple) else last


steps = {}
for row in csv.reader((work / "steps.tsv").open() if (work / "steps.tsv").exists() else [], delimiter="\t"):
    name, begin, end, status, limit, cmd = row
    steps[name] = dict(begin=int(begin), end=int(end), status=status, limit=int(limit), cmd=cmd)


def status(name):
    return steps[name]["status"] if name in steps else "not run"


def overlapping(name):
    if name not in steps:
        return ""
    me = steps[name]
    return ", ".join(
        other
        for other, s in steps.items()
        if other not in (name, "setup") and s["begin"] < me["end"] and s["end"] > me["begin"]
    )


setup = log("setup")
gpu_name = find(r"^([^,\n]+), ([\d.]+), (\d+ MiB), ([\d.]+)$", setup, 1, "no GPU (nvidia-smi absent)")
gpu_line = re.findall(r"^([^,\n]+), ([\d.]+), (\d+ MiB), ([\d.]+)$", setup, flags=re.M)
cpu_name = find(r"model name\s*:\s*(.+)$", setup, 1, "?")
brian_versions = find(r"^(brian2 \S+ brian2cuda \S+)$", setup, 1, "brian2/brian2cuda: not importable")
versions = dict(re.findall(r"^([a-z][\w-]*) (\d\S*|\(not installed\))$", setup, flags=re.M))
lines = ["# brian2cuda check (issue 19)" + (" -- DRY RUN: no GPU, CUDA programs built, not run" if dry else ""), ""]
lines += [
    f"- GPU: {gpu_name}"
    + (f" (driver {gpu_line[-1][1]}, {gpu_line[-1][2]}, compute capability {gpu_line[-1][3]})" if gpu_line else ""),
    f"- CPU: {cpu_name}, {find(r'^cores: (\d+)', setup, 1, '?')} cores; make -j{make_jobs}",
    f"- nvcc: {find(r'^(Cuda compilation tools.*)$', setup, 1, 'not found')}",
    f"- {brian_versions}; " + ", ".join(f"{n} {versions.get(n, '?')}" for n in ("numpy", "sympy", "pandas", "nvidia-curand")),
    f"- cuRAND: {find(r'^cuRAND headers and library: (.+)$', setup, 1, 'NOT FOUND')}",
    f"- command: `{command}` (budget {budget} s; epochs {epochs}, throughput --samples {tp_samples}, "
    f"conv --samples {conv_samples}; steps one after the other: {serial == '1'})",
]
if reused.strip():
    lines.append(f"- REUSED build caches of an earlier run in {work}: {reused.strip()} (compile times are not first builds)")
lines.append("")

# digits accuracy
lines += ["## Digits (protocols.digits, FC_200_FC_10, 1437 train / 360 test)", ""]
lines += ["| device | status | epochs done | test acc. (last epoch) | train acc. | samples/s (mean) | program ready (s) |"]
lines += ["|---|---|---|---|---|---|---|"]
accuracies = {}  # test accuracy per epoch
for name, folder in (("digits_gpu", "gpu"), ("digits_cpu", "cpu")):
    metrics = work / "runs" / "digits" / folder / "metrics.csv"
    rows = list(csv.DictReader(metrics.open())) if metrics.exists() else []
    test = [r for r in rows if r["split"] == "test"]
    train = [r for r in rows if r["split"] == "train"]
    ready = find(r"program ready in ([\d.]+) s", log(name)) or find(r"built in ([\d.]+) s", log(name)) or "-"
    if test:
        accuracies[folder] = {int(r["epoch"]): float(r["accuracy"]) for r in test}
        speed = sum(float(r["samples_per_s"]) for r in train) / len(train)
        lines.append(
            f"| {name} | {status(name)} | {test[-1]['epoch']}/{epochs} | {float(test[-1]['accuracy']):.4f} | "
            f"{float(train[-1]['accuracy']):.4f} | {speed:.0f} | {ready} |"
        )
    else:
        lines.append(f"| {name} | {status(name)} | 0/{epochs} | - | - | - | {ready} |")
if len(accuracies) == 2:
    epoch = min(max(accuracies["gpu"]), max(accuracies["cpu"]))  # the last epoch both reached
    gpu, cpu = accuracies["gpu"][epoch], accuracies["cpu"][epoch]
    se = ((gpu * (1 - gpu) + cpu * (1 - cpu)) / 360) ** 0.5
    verdict = "within" if abs(gpu - cpu) <= 3 * se else "OUTSIDE"
    lines += [
        "",
        f"GPU - CPU test accuracy after epoch {epoch}: {gpu:.4f} - {cpu:.4f} = {gpu - cpu:+.4f} "
        f"({verdict} 3 standard errors of the difference, {3 * se:.4f})",
    ]
lines.append("")

# tests
pytest_summary = find(r"^=*\s*(\d+ (?:passed|failed|error|skipped|deselected).*?)\s*=*$", log("pytest_cuda"))
lines += ["## tests/test_cuda.py", "", f"{status('pytest_cuda')}: {pytest_summary or 'no pytest summary'}", ""]

# benchmarks
lines += ["## Training throughput (compiled training, --compiled-only, MNIST)", ""]
lines += ["| net | device | samples/s | build (s, first) | build (s, reused) | status | data | ran beside |"]
lines += ["|---|---|---|---|---|---|---|---|"]
speeds = {}
for bench, net in (("throughput", "FC_500_FC_10 (784-500-10)"), ("conv", "CONV_32_5_1_2_FC_1000_FC_10")):
    for device in ("cuda", "cpp_standalone"):
        timed, build = log(f"{bench}_{device}"), log(f"build_{bench}_{device}")
        if not timed and not build:
            continue
        if bench == "throughput":
            speed = find(r"^\(a\) compiled training \([^)]*\): ([\d.]+) samples/s \(build ([\d.]+) s\)", timed, 1)
            reused = find(r"^\(a\) compiled training \([^)]*\): ([\d.]+) samples/s \(build ([\d.]+) s\)", timed, 2)
        else:
            speed = find(r"^\(a\) compiled training, \w+ build: ([\d.]+) samples/s \(build ([\d.]+) s\)", timed, 1)
            reused = find(r"^\(a\) compiled training, \w+ build: ([\d.]+) samples/s \(build ([\d.]+) s\)", timed, 2)
        reused = reused or find(r"^built .* in ([\d.]+) s", timed, 1)  # a dry run builds again
        first = find(r"^built .* in ([\d.]+) s", build, 1)
        source = find(r"^data: ([^,]+), (\d+) samples", build + timed, 1, "?")
        if speed:
            speeds[(bench, device)] = float(speed)
        lines.append(
            f"| {net} | {device} | {speed or '-'} | {first or '-'} | {reused or '-'} | "
            f"build {status('build_' + bench + '_' + device)}, run {status(bench + '_' + device)} | {source} | "
            f"{overlapping(bench + '_' + device) or '-'} |"
        )
lines.append("")
for bench in ("throughput", "conv"):
    if (bench, "cuda") in speeds and (bench, "cpp_standalone") in speeds:
        ratio = speeds[(bench, "cuda")] / speeds[(bench, "cpp_standalone")]
        lines.append(f"- {bench}: GPU/CPU samples/s ratio {ratio:.2f}")
for device in ("cuda", "cpp_standalone"):
    events = find(r"synaptic events per sample: ([\d.]+ M)", log(f"conv_{device}"), 1)
    rates = find(r"spikes per neuron per step: (.+)$", log(f"conv_{device}"), 1)
    if events:
        lines.append(f"- conv on {device}: {events} synaptic events per sample; spikes per neuron per step: {rates}")
overhead = {
    d: find(r"start-up overhead of one run of the compiled program: ([\d.]+) s", log(f"throughput_{d}"))
    for d in ("cuda", "cpp_standalone")
}
lines.append(
    "- start-up overhead of one run (throughput): " + ", ".join(f"{d} {v or '-'} s" for d, v in overhead.items())
)
lines += [
    "- 'build (s, first)' is the --build-only step (code generation and compile, beside the other builds of "
    "step 2); 'reused' is the timed run's own build call on that build (code generation and main.cpp / main.cu compiled again)",
    "",
]

# steps
lines += ["## Steps", "", "| step | status | start (s) | end (s) | seconds | timeout (s) |", "|---|---|---|---|---|---|"]
for name, s in steps.items():
    lines.append(
        f"| {name} | {s['status']} | {s['begin']} | {s['end']} | {s['end'] - s['begin']} | {s['limit']} |"
    )
lines += ["", "Commands:", ""] + [f"- {name}: `{s['cmd']}`" for name, s in steps.items()]
failed = [name for name, s in steps.items() if s["status"] != "ok"]
lines += ["", f"Failed or unfinished steps: {', '.join(failed) or 'none'} (their logs: steps.log)", ""]
(out / "summary.md").write_text("\n".join(lines))
EOF
    {
        echo "# brian2cuda check: the summary script failed; the steps:"
        echo
        sed 's/^/    /' "$WORK/steps.tsv" 2>/dev/null
    } >"$OUT/summary.md"
fi

# logs: one file with every step's log in the order the steps started (without brian2cuda's INFO lines,
# long ones cut in the middle), and everything in one archive
{
    for name in $( (cut -f1 "$WORK/steps.tsv" 2>/dev/null; cd "$LOGS" 2>/dev/null && ls -- *.log | sed 's/\.log$//') |
        awk '!seen[$0]++'); do
        path=$LOGS/$name.log
        [ -e "$path" ] || continue
        echo "=================== $name"
        grep -v '^INFO ' "$path" >"$WORK/log.tmp"
        if [ "$(wc -l <"$WORK/log.tmp")" -gt 300 ]; then
            head -n 60 "$WORK/log.tmp"
            echo "... ($(($(wc -l <"$WORK/log.tmp") - 260)) lines left out: details.tar.gz has them all) ..."
            tail -n 200 "$WORK/log.tmp"
        else
            cat "$WORK/log.tmp"
        fi
    done
} >"$OUT/steps.log"
(cd "$WORK" && find logs steps.tsv runs 2>/dev/null \( -name '*.log' -o -name '*.tsv' -o -name '*.csv' -o -name '*.json' \) \
    -size -4M -print0 | tar -czf "$OUT/details.tar.gz" --null -T - 2>/dev/null)
cat "$OUT/summary.md"
echo "[+$(now)s] done: $OUT/summary.md, $OUT/steps.log, $OUT/details.tar.gz"
# the exit status: 0 where every step ended well
! cut -f4 "$WORK/steps.tsv" 2>/dev/null | grep -qv '^ok$'
exit
}

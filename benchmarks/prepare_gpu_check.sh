#!/usr/bin/env bash
# Prepares what benchmarks/gpu_check.sh needs on a GPU machine without network, in git-ignored folders
# of the repository root (run here, from anywhere, with network to the package index):
#   .whl/             the wheels that the GPU machine lacks (brian2 and brian2cuda, as pinned in
#                     requirements*.txt; their other requirements are already there, see
#                     /work/.library/device/KINDS.md), for Python 3.12 on x86-64
#   .gpu_data/mnist/  the four MNIST .gz files, copied from MNIST_DIR (default ../shared/data/mnist)
# and prints their size with the tracked files': a device call carries at most 64 MiB.
#
#   benchmarks/prepare_gpu_check.sh [MNIST_DIR]
#
# cuRAND is NOT carried (the pinned nvidia-curand wheel alone is 77 MB): the GPU machine's own
# nvidia-curand wheel (it comes with its PyTorch) has the same layout, and gpu_check.sh checks it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MNIST_DIR=${1:-../shared/data/mnist}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
LIMIT=$((64 * 1024 * 1024))

pinned() {  # NAME: its pinned version in requirements*.txt
    grep -hiE "^$1==" requirements*.txt | head -1 | cut -d= -f3
}
BRIAN2=$(pinned brian2)
BRIAN2CUDA=$(pinned brian2cuda)
[ -n "$BRIAN2" ] && [ -n "$BRIAN2CUDA" ] || { echo "brian2 or brian2cuda is not pinned in requirements*.txt" >&2; exit 1; }

rm -rf .whl && mkdir -p .whl
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl "brian2==$BRIAN2" "brian2cuda==$BRIAN2CUDA"

# Their requirements (no extras) that the GPU machine has, as KINDS.md lists its packages. Anything else
# stops here, so that a new requirement is carried (add it to the download above) rather than found missing.
ON_DEVICE="numpy cython sympy pyparsing jinja2 setuptools packaging brian2"
for wheel in .whl/*.whl; do
    unzip -p "$wheel" '*/METADATA' | grep '^Requires-Dist' | grep -v 'extra ==' | grep -v 'platform_system == "Windows"' |
        sed -E 's/^Requires-Dist: *([A-Za-z0-9_.-]+).*/\1/' | while read -r name; do
        lower=$(echo "$name" | tr 'A-Z_' 'a-z-')
        case " $ON_DEVICE " in
            *" $lower "*) ;;
            *) echo "$(basename "$wheel") requires $name, which the GPU machine lacks: carry it too" >&2; exit 1 ;;
        esac
    done
done

mkdir -p .gpu_data/mnist
for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    cp "$MNIST_DIR/$name.gz" .gpu_data/mnist/
    chmod u+w ".gpu_data/mnist/$name.gz"
done

{ git check-ignore -q .whl/x && git check-ignore -q .gpu_data/x; } || { echo ".whl/ and .gpu_data/ must be git-ignored (.gitignore)" >&2; exit 1; }
ls -l .whl .gpu_data/mnist
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
carried=$(du -cb .whl .gpu_data | tail -1 | cut -f1)
total=$((tracked + ${untracked:-0} + carried))
printf 'tracked %d + untracked, not ignored %d + carried (.whl, .gpu_data) %d = %d bytes (%.1f MiB of 64)\n' \
    "$tracked" "${untracked:-0}" "$carried" "$total" "$(awk "BEGIN {print $total / 1048576}")"
if [ "$total" -ge "$LIMIT" ]; then
    echo "over the 64 MiB that a device call carries" >&2
    exit 1
fi

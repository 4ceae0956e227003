#!/usr/bin/env bash
# The GPU checks, as one prepared script for a short session on a machine with an
# NVIDIA GPU (made for an H100; about 4-5 minutes in all). Run it from the
# repository root:
#
#     OUT=/some/folder bash benchmarks/run_gpu.sh
#
# That machine has python3 with cupy, numpy, torch, pytest and scikit-learn but
# not array-api-compat or array-api-strict: their wheels must travel in .whl/
# (an ignored folder, so name it among the paths carried to the machine), with
# flash-kmeans' and tqdm's for the batched comparison (flash-kmeans needs the
# Triton that comes with PyTorch). To fill it on a machine with the package index:
#
#     python3 -m pip download --only-binary :all: --no-deps -d .whl \
#         array-api-compat array-api-strict flash-kmeans tqdm
#
# Steps: install those wheels into /tmp/site; the GPU tests (output to
# $OUT/tests_gpu.log, its tail printed); benchmarks/gpu.py (JSON and
# markdown into $OUT, the table printed); benchmarks/gpu_batched.py (the batched
# shape); benchmarks/gpu_profile.py (where a fit's time goes). Time limits per
# step come from TESTS_TIMEOUT (default 150 s; the GPU tests took 116 s on an
# H100), BENCH_TIMEOUT (default 210 s), BATCHED_TIMEOUT (default 180 s: float16
# did not fit in the 45 s the last run gave it, and flash-kmeans compiles on
# first use) and PROFILE_TIMEOUT (default 60 s): 10 minutes in all, the
# device's limit per command. Arguments
# go to benchmarks/gpu.py (e.g. --sweep-working-memory 16,64,1024). The exit
# status is the first non-zero one of the first two steps (2: no usable GPU).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
else
    echo "run_gpu.sh: no wheels in .whl/; using whatever python3 already has" >&2
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}

python3 - <<'EOF' || true
import importlib
for name in ("numpy", "cupy", "torch", "triton", "flash_kmeans", "sklearn",
             "array_api_compat", "array_api_strict"):
    try:
        mod = importlib.import_module(name)
        print(f"{name} {getattr(mod, '__version__', '?')}")
    except Exception as exc:
        print(f"{name} MISSING ({exc!r})")
EOF
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv 2>&1 || true

# The GPU tests only (the rest is what CI runs); TESTS_MARK="gpu or not gpu"
# runs everything.
echo "== tests -m '${TESTS_MARK:-gpu}' (timeout ${TESTS_TIMEOUT:-150} s) -> $OUT/tests_gpu.log"
timeout "${TESTS_TIMEOUT:-150}" python3 -m pytest -m "${TESTS_MARK:-gpu}" -q \
    -p no:cacheprovider tests > "$OUT/tests_gpu.log" 2>&1
tests_rc=$?
tail -n 25 "$OUT/tests_gpu.log"
echo "== tests exit status $tests_rc"

echo "== benchmarks/gpu.py (timeout ${BENCH_TIMEOUT:-210} s)"
timeout "${BENCH_TIMEOUT:-210}" python3 benchmarks/gpu.py --out "$OUT" "$@"
bench_rc=$?
echo "== gpu.py exit status $bench_rc"

echo "== benchmarks/gpu_batched.py (timeout ${BATCHED_TIMEOUT:-180} s)"
timeout "${BATCHED_TIMEOUT:-180}" python3 benchmarks/gpu_batched.py --out "$OUT"
echo "== gpu_batched.py exit status $?"

echo "== benchmarks/gpu_profile.py (timeout ${PROFILE_TIMEOUT:-60} s)"
timeout "${PROFILE_TIMEOUT:-60}" python3 benchmarks/gpu_profile.py --out "$OUT"
echo "== gpu_profile.py exit status $?"

if [ "$tests_rc" -ne 0 ]; then exit "$tests_rc"; fi
exit "$bench_rc"

#!/usr/bin/env bash
# The GPU checks (issue 6) as one command for the device machine: GPU tests, conformance on cuda (float32 goldens
# and float16 against float32), and the forward benchmark against PyTorch in float32 and float16.
#
# The device image has CuPy, PyTorch, transformers, numpy, regex, safetensors, pytest and hypothesis, but not
# array-api-compat (deberta_np.xp wraps CuPy with it) and nothing can be fetched there. Before the run, here in
# the repository root:
#     echo /.whl/ >> .git/info/exclude
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux2014_x86_64 -d .whl array-api-compat==1.16.0
# then run it with carry [".whl"] and a timeout that leaves room for a rerun:
#     bash benchmarks/gpu_session.sh            # about 6 minutes on an H100
# Everything it prints also lands in $OUT (gpu.txt, pytest.log, conformance.log, forward-*.md).
set -uo pipefail
OUT=${OUT:-/tmp/deberta_np_gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
status=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import cupy, torch, transformers; print('cupy', cupy.__version__, 'torch', torch.__version__,
'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"

# 1. Tests that need the GPU (they skip elsewhere), and the shim's own.
python3 -m pytest -q -p no:cacheprovider tests/test_half_and_gpu.py tests/test_xp.py 2>&1 | tee "$OUT/pytest.log" \
    || status=1

# 2. Conformance on cuda: every golden at float32 (<= 1e-5), float16 against float32 (max abs diff, PSNR).
#    The tokenizer and pipeline suites run too: their files travel with the repository (data/tokenizers).
python3 -m conformance --device cuda --half 2>&1 | tee "$OUT/conformance.log" || status=1

# 3. Speed against PyTorch eager on the same GPU, v1 float32 and float16, then v3 float16.
timeout 150 python3 benchmarks/forward.py --device cuda --dtype float32 --repeats 20 --pause 0.05 \
    --workdir /tmp/bench 2>&1 | tee "$OUT/forward-base-float32.md" || status=1
timeout 120 python3 benchmarks/forward.py --device cuda --dtype float16 --repeats 20 --pause 0.05 \
    --workdir /tmp/bench 2>&1 | tee "$OUT/forward-base-float16.md" || status=1
timeout 150 python3 benchmarks/forward.py --model deberta-v3-base --device cuda --dtype float16 --repeats 20 \
    --pause 0.05 --workdir /tmp/bench 2>&1 | tee "$OUT/forward-v3-float16.md" || status=1
exit $status

#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU (RTX 3090 / sm_86, H100/H200 / sm_90), from
# the repository root or anywhere. In under 5 minutes it
#   1. prints the GPUs (nvidia-smi) and the driver probe,
#   2. builds the CUDA tests (Release) and runs them: every op against its CPU reference, the stage
#      executor against the reference forward pass, topology (GPU tests must run, not skip),
#   3. prints the discovered topology,
#   4. runs the decode benchmark (tools/cuda-bench.cs, or $ACTORS_BENCH_CMD once the CLI has
#      `actors bench`), whose table is printed last.
# Needs the .NET 10 SDK and an NVRTC (libnvrtc.so.12/13 from the CUDA toolkit, or
# tools/install-nvrtc.sh on Debian; ACTORS_NVRTC_PATH points at a non-standard one).
# Exit status: 0 when everything passed, 1 otherwise. Kernels and generated models are cached in
# $ACTORS_CACHE (default: .cache/ in the repository, which git ignores).
set -uo pipefail
cd "$(dirname "$0")/.."
export ACTORS_CACHE="${ACTORS_CACHE:-$PWD/.cache}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
results=()
status=0
started=$SECONDS
step() { printf '\n=== %s (%ds elapsed)\n' "$1" $((SECONDS - started)); }
record() { results+=("$(printf '| %-10s | %-6s | %5ss | %s' "$1" "$2" "$3" "$4")"); [ "$2" = ok ] || status=1; }

step "GPUs"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap,pci.bus_id --format=csv
  nvidia-smi topo -m 2>/dev/null || true
else
  echo "nvidia-smi not found"
fi

step "build"
t0=$SECONDS
if timeout 240 dotnet build tests/Actors.Cuda.Tests -c Release -v q -nologo 2>&1 | tail -3; then
  record build ok $((SECONDS - t0)) "tests/Actors.Cuda.Tests (Release)"
else
  record build FAILED $((SECONDS - t0)) "see the compiler output above"
  printf '%s\n' "${results[@]}"
  exit 1
fi

step "driver probe"
probe=$(timeout 120 dotnet run -c Release tools/cuda-bench.cs -- --probe 1 2>&1 | tail -1)
echo "$probe"
case "$probe" in
  "no CUDA device"*) record probe FAILED 0 "$probe"; printf '%s\n' "${results[@]}"; exit 1 ;;
  *) record probe ok 0 "$probe" ;;
esac

step "tests"
t0=$SECONDS
log=$(mktemp)
timeout 300 dotnet test tests/Actors.Cuda.Tests -c Release --no-build --logger "console;verbosity=normal" 2>&1 | tee "$log" \
  | grep -E "^\s+(Failed|Skipped) |Error Message|^\s+(no CUDA|Assert|a CUDA device)|^Test Run|^Total tests|^\s+(Passed|Failed|Skipped):" | head -100
summary=$(grep -E "^Total tests:|^\s+(Passed|Failed|Skipped):" "$log" | tr -s ' ' | tr '\n' ' ')
gpu_skips=$(grep -c "no CUDA device" "$log" || true)
if grep -q "^Test Run Successful" "$log" && [ "$gpu_skips" -eq 0 ]; then
  record tests ok $((SECONDS - t0)) "$summary"
else
  record tests FAILED $((SECONDS - t0)) "${summary:-no summary} (GPU tests skipped for no device: $gpu_skips)"
fi
rm -f "$log"

step "topology"
t0=$SECONDS
timeout 120 dotnet run -c Release tools/cuda-bench.cs -- --topology 1 2>&1 | tail -40
record topology ok $((SECONDS - t0)) "printed above"

step "decode benchmark"
t0=$SECONDS
bench=$(mktemp)
if [ -n "${ACTORS_BENCH_CMD:-}" ]; then
  timeout 240 bash -c "$ACTORS_BENCH_CMD" 2>&1 | tee "$bench"
else
  # A 4-layer Llama-2-7B-shaped slice (dim 4096, ffn 11008, 32 heads) in Q4_K_M: per-step weight
  # bandwidth extrapolates to the full 32-layer model.
  timeout 240 dotnet run -c Release tools/cuda-bench.cs -- --type Q4_K_M --dim 4096 --layers 4 --ffn 11008 \
    --heads 32 --kv-heads 32 --vocab 32000 --batches 1,4,8 --prompt 128 --steps 32 2>&1 | tee "$bench"
fi
if [ "${PIPESTATUS[0]}" -eq 0 ]; then record bench ok $((SECONDS - t0)) "table below"; else record bench FAILED $((SECONDS - t0)) "see output above"; fi

printf '\n=== summary (%ds)\n| step       | result | time   | detail\n' $((SECONDS - started))
printf '%s\n' "${results[@]}"
printf '\n'
grep -E "^decode benchmark|^\|" "$bench" || echo "(no benchmark table)"
rm -f "$bench"
exit $status

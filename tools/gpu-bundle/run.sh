#!/usr/bin/env bash
# The GPU check, from a bundle made by tools/gpu-bundle.sh. Needs only bash, coreutils and the NVIDIA
# driver: the .NET runtime is inside bin/, NVRTC and cuBLAS are found in the CUDA toolkit, on the
# loader path or in Python's NVIDIA wheels (site-packages/nvidia/*/lib).
#   bash run.sh LOG_DIR
# Writes LOG_DIR/gpu-check.log (everything printed), LOG_DIR/summary.json (one entry per step),
# LOG_DIR/cases.jsonl (one line per test case) and LOG_DIR/bench.txt. At most about 7 minutes.
# Steps: facts, libraries (device open), op tests, stage tests, memcheck, benchmark.
# ACTORS_CHECK_SECONDS (default 420) is the time the steps share; ACTORS_BENCH_ARGS replaces the
# benchmark's options (see the runner's bench command); ACTORS_ALLOW_NO_CUBLAS=1 lets the stage
# tests run without cuBLAS. Exit status: 0 all passed; 1 a step failed; 3 no GPU found (nothing
# else run); 10 the bundle's runner does not start on this machine; 2 usage. docs/cuda.md explains
# every summary line.
set -u
export PATH="${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}:/usr/local/cuda/bin"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ $# -ne 1 ]; then echo "usage: bash $0 LOG_DIR" >&2; exit 2; fi
log_dir=$1
mkdir -p "$log_dir" || exit 2
log_dir=$(cd "$log_dir" && pwd)
: > "$log_dir/gpu-check.log"
exec > >(tee -a "$log_dir/gpu-check.log") 2>&1
tee_pid=$!

export HOME="${HOME:-/tmp}"
export ACTORS_CACHE="${ACTORS_CACHE:-${TMPDIR:-/tmp}/actors-gpu-check}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_gcServer=0
runner="$here/bin/Actors.Cuda.Tests"
started=$SECONDS
total=${ACTORS_CHECK_SECONDS:-420}
left() { echo $((total - (SECONDS - started))); }
scaled() { echo $(($1 * total / 420)); } # step budgets are set for 420 s and scale with ACTORS_CHECK_SECONDS
status=0
entries=()

json_escape() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/ }; s=${s//$'\r'/}; printf '%s' "${s//$'\n'/\\n}"; }
# record STEP RESULT SECONDS DETAIL: one summary entry (RESULT: ok, FAILED, skipped, no-gpu).
record() {
  entries+=("$(printf '{"step":"%s","result":"%s","seconds":%d,"detail":"%s"}' "$1" "$2" "$3" "$(json_escape "$4")")")
  printf '\n--- %-9s %-7s %4ss  %s\n' "$1" "$2" "$3" "$4"
  case "$2" in ok|skipped) ;; *) status=1 ;; esac
}
write_summary() {
  local IFS=,
  printf '{"bundle":"%s","host":"%s","total_seconds":%d,"exit":%d,"steps":[%s]}\n' "$(json_escape "$(cat "$here/VERSION" 2>/dev/null)")" \
    "$(json_escape "$(uname -n)")" $((SECONDS - started)) "$1" "${entries[*]}" > "$log_dir/summary.json"
  printf '\n=== summary (%ds, exit %d): %s\n' $((SECONDS - started)) "$1" "$log_dir/summary.json"
  cat "$log_dir/summary.json"
}
# Closing our output lets tee finish writing the log before we exit.
finish() { write_summary "$1"; exec >&- 2>&-; wait "$tee_pid" 2>/dev/null; exit "$1"; }
step() { printf '\n=== %s (%ds elapsed)\n' "$1" $((SECONDS - started)); }
have() { command -v "$1" >/dev/null 2>&1; }

step "facts"
t0=$SECONDS
echo "bundle: $(cat "$here/VERSION" 2>/dev/null || echo unknown)"
echo "host: $(uname -srm), $(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'glibc unknown')"
gpu_signs=()
[ -e /dev/nvidiactl ] && gpu_signs+=("/dev/nvidiactl")
[ -r /proc/driver/nvidia/version ] && { gpu_signs+=("/proc/driver/nvidia"); head -1 /proc/driver/nvidia/version; }
if have nvidia-smi; then
  gpu_signs+=("nvidia-smi")
  timeout 30 nvidia-smi --query-gpu=index,name,driver_version,compute_cap,memory.total,pci.bus_id,clocks.max.memory --format=csv || true
  timeout 30 nvidia-smi | head -4 | tail -2 || true
  timeout 30 nvidia-smi topo -m 2>/dev/null || true
fi
# Library folders: the loader cache, the toolkits, and Python's NVIDIA wheels (asked from python3 itself).
py_dirs=""
if have python3; then
  py_dirs=$(timeout 20 python3 -c 'import site, glob
for p in site.getsitepackages() + [site.getusersitepackages()]:
    for d in sorted(glob.glob(p + "/nvidia/*/lib")): print(d)' 2>/dev/null | tr '\n' ':')
  echo "python3: $(python3 --version 2>&1); NVIDIA wheel library folders: ${py_dirs:-none}"
fi
export ACTORS_CUDA_LIBRARY_PATH="${ACTORS_CUDA_LIBRARY_PATH:+$ACTORS_CUDA_LIBRARY_PATH:}${py_dirs%:}"
found_libs=""
for lib in libcuda.so.1 libnvidia-ml.so.1 libnvrtc.so libcublas.so libcublasLt.so libssl.so; do
  where=""
  have ldconfig && where=$(ldconfig -p 2>/dev/null | grep -F "$lib" | grep -v stubs | awk '{print $NF}' | head -3 | tr '\n' ' ')
  for d in ${ACTORS_CUDA_LIBRARY_PATH//:/ } /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib/wsl/lib; do
    for f in "$d/$lib"*; do [ -e "$f" ] && where+="$f "; done
  done
  echo "library $lib: ${where:-not found}"
  found_libs+="$lib: ${where:-not found}; "
  [ "$lib" = libcuda.so.1 ] && [ -n "$where" ] && gpu_signs+=("libcuda.so.1")
done
sanitizer=""
for s in "$(command -v compute-sanitizer 2>/dev/null)" /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer /opt/nvidia/*/compute-sanitizer/compute-sanitizer; do
  [ -n "$s" ] && [ -x "$s" ] && { sanitizer=$s; break; }
done
echo "compute-sanitizer: ${sanitizer:-not found}"
if [ ${#gpu_signs[@]} -eq 0 ]; then
  msg="no NVIDIA GPU found: no /dev/nvidiactl, no /proc/driver/nvidia, no nvidia-smi, no libcuda.so.1"
  if [ -x "$runner" ]; then
    # Still prove the bundle's runtime starts here, and ask the driver probe.
    probe=$(timeout 60 "$runner" probe 2>&1); rc=$?
    cases=$(timeout 60 "$runner" list 2>/dev/null | wc -l)
    echo "runner probe (exit $rc): $probe; $cases GPU test cases listed"
    [ "$rc" = 3 ] || [ "$rc" = 0 ] || { record facts FAILED $((SECONDS - t0)) "$msg; and the bundle's runner does not start (exit $rc): $probe"; finish 10; }
    msg+="; runner: $probe; $cases GPU test cases"
  fi
  echo "$msg"
  record facts no-gpu $((SECONDS - t0)) "$msg"
  finish 3
fi
record facts ok $((SECONDS - t0)) "GPU signs: ${gpu_signs[*]}; $found_libs sanitizer: ${sanitizer:-none}"

step "libraries (device open)"
t0=$SECONDS
if [ ! -x "$runner" ]; then record libraries FAILED 0 "$runner is missing: rebuild the bundle with tools/gpu-bundle.sh"; finish 10; fi
out=$(timeout 120 "$runner" libs 2>&1); rc=$?
echo "$out"
detail=$(grep -E '^(driver|device|nvrtc|nvrtc-builtins|kernels|cublas|cublasLt|nvml): ' <<<"$out" | tr '\n' ';')
case $rc in
  0) record libraries ok $((SECONDS - t0)) "$detail" ;;
  3) record libraries no-gpu $((SECONDS - t0)) "$detail"; finish 3 ;;
  5) record libraries FAILED $((SECONDS - t0)) "cuBLAS is missing, so the GEMM path cannot be tested (stage tests will fail; set ACTORS_ALLOW_NO_CUBLAS=1 to run them on matvec): $detail" ;;
  *) record libraries FAILED $((SECONDS - t0)) "exit $rc: $(tail -3 <<<"$out" | tr '\n' ' ')"; finish 1 ;;
esac
timeout 60 "$runner" topology || echo "(topology discovery failed: exit $?)"

# suite GROUP STEP TIMEOUT_PER_CASE BUDGET [--wrap ...]: one process per test method.
suite() {
  local group=$1 name=$2 per=$3 budget=$4; shift 4
  local t0=$SECONDS out rc line
  # Every line goes to LOG_DIR/<step>.log; failures and the summary also to the screen and the main log.
  out=$( { timeout $((budget + per + 30)) "$runner" suite "$group" --timeout "$per" --budget "$budget" --results "$log_dir/cases.jsonl" "$@" 2>&1; echo "EXIT $?"; } \
        | tee -a "$log_dir/$name.log" | grep -E '^(RESULT|SUMMARY|REFUSED|EXIT) ' | grep -v '^RESULT Passed' | tee /dev/stderr)
  rc=$(grep '^EXIT ' <<<"$out" | tail -1 | cut -d' ' -f2)
  line=$(grep '^SUMMARY' <<<"$out" | cut -d' ' -f2-)
  case $rc in
    0) record "$name" ok $((SECONDS - t0)) "$line" ;;
    6) record "$name" skipped $((SECONDS - t0)) "compute-sanitizer refused to run here: $(grep '^REFUSED' <<<"$out" | cut -d' ' -f2- | cut -c1-400)" ;;
    1) # Under the sanitizer everything runs many times slower: running out of time is not a finding.
       if [ "$name" = memcheck ] && grep -q 'failed=0 crashed=0 ' <<<"$line"; then
         record "$name" ok $((SECONDS - t0)) "partial: $line (the rest did not fit the time budget)"
       else
         record "$name" FAILED $((SECONDS - t0)) "$line; failures: $(grep '^RESULT' <<<"$out" | cut -d' ' -f2,3 | head -12 | tr '\n' ';')"
       fi ;;
    124) record "$name" FAILED $((SECONDS - t0)) "the whole step timed out; ${line:-no summary}" ;;
    *) record "$name" FAILED $((SECONDS - t0)) "${line:-exit $rc, no summary}; failures: $(grep '^RESULT' <<<"$out" | cut -d' ' -f2,3 | head -12 | tr '\n' ';')" ;;
  esac
}

step "op tests (one process per test method)"
suite op ops "$(scaled 45)" "$(scaled 90)"
step "stage tests"
suite stage stages "$(scaled 60)" "$(scaled 60)"
step "memcheck (compute-sanitizer on the op tests)"
# What is left before the benchmark's share; cases beyond the budget are reported as not run.
bench_reserve=$(scaled 150)
memcheck_budget=$(( $(left) - bench_reserve < $(scaled 90) ? $(left) - bench_reserve : $(scaled 90) ))
if [ -z "$sanitizer" ]; then
  record memcheck skipped 0 "compute-sanitizer not found (it comes with the CUDA toolkit: /usr/local/cuda/bin)"
elif [ "$memcheck_budget" -lt 20 ]; then
  record memcheck skipped 0 "no time left for it within ${total} s"
else
  suite op memcheck "$(scaled 45)" "$memcheck_budget" --wrap "$sanitizer" --tool memcheck --print-limit 10
fi

step "benchmark"
t0=$SECONDS
bench_time=$(( $(left) > 90 ? $(left) - 5 : 90 ))
# shellcheck disable=SC2086
timeout "$bench_time" "$runner" bench ${ACTORS_BENCH_ARGS:-} 2>&1 | tee "$log_dir/bench.txt"; rc=${PIPESTATUS[0]}
rows=$(grep -c '^BENCH ' "$log_dir/bench.txt")
copy=$(grep '^COPY ' "$log_dir/bench.txt" | cut -d' ' -f2-)
best=$(grep '^BENCH ' "$log_dir/bench.txt" | grep 'batch=1 ' | sed -E 's/^BENCH type=([^ ]+) .*decode_tok_s=([^ ]+) weight_gb_s=([^ ]+) .*of_copy=([^ ]+)/\1 \2 tok\/s \3 GB\/s (\4 of copy)/' | tr '\n' ';')
if [ "$rc" = 0 ] && [ "$rows" -gt 0 ]; then
  record bench ok $((SECONDS - t0)) "$rows rows; copy $copy; batch 1: $best"
else
  record bench FAILED $((SECONDS - t0)) "exit $rc$([ "$rc" = 124 ] && echo ", timed out after $bench_time s"), $rows rows; $(tail -2 "$log_dir/bench.txt" | tr '\n' ' ')"
fi
finish $status

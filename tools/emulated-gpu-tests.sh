#!/usr/bin/env bash
# Runs the CUDA backend's GPU tests without a GPU, against a CPU emulation: kernels/*.cu compiled
# with g++ against tools/cuda-emulator/simt.h (one thread per CUDA thread, barriers for
# __syncthreads and warp shuffles), a stand-in libcuda.so.1 and libcublas.so.12 that execute on the
# host, and the real NVRTC for the compile step. Everything above the driver — Actors.Interop's
# bindings, the NVRTC compiler service, CudaDevice, CudaStageExecutor, CudaTopology and the tests —
# is the real code. It checks kernel logic and host orchestration; it says nothing about speed,
# memory ordering, or how a real driver and GPU behave. Needs g++ (C++20) and python3.
#   tools/emulated-gpu-tests.sh [--asan] [dotnet test filter]
#   tools/emulated-gpu-tests.sh --runner COMMAND...   the GPU check runner instead of dotnet test,
#       e.g. --runner suite op, --runner libs (ACTORS_EMU_FAIL_KERNEL=<kernel> poisons the context
#       at that kernel's launch, as an illegal address would)
#   tools/emulated-gpu-tests.sh --bundle BUNDLE_DIR LOG_DIR   a bundle's run.sh (tools/gpu-bundle.sh)
#       end to end on the emulator, with a small benchmark and 30 minutes for the steps
# --asan builds everything with AddressSanitizer, which reports any kernel read or write outside
# its buffers. Takes a few minutes on 2 cores (the 17M-element residual case is left out: 65535
# blocks of emulated threads take too long).
set -euo pipefail
cd "$(dirname "$0")/.."
asan=0
runner=0
if [ "${1:-}" = "--asan" ]; then asan=1; shift; fi
if [ "${1:-}" = "--runner" ]; then runner=1; shift; fi
bundle=""
if [ "${1:-}" = "--bundle" ]; then bundle=$(cd "$2" && pwd); log_dir=$3; shift 3; fi
filter="${1:-FullyQualifiedName~Gpu&DisplayName!~17000001}"
suffix=""; [ $asan = 1 ] && suffix=-asan
out="${ACTORS_CACHE:-$PWD/.cache}/cuda-emulator$suffix"
mkdir -p "$out/src" "$out/lib"
flags=(-std=c++20 -O1 -fPIC -pthread -Wno-unknown-pragmas)
[ $asan = 1 ] && flags+=(-g -fsanitize=address)
cp tools/cuda-emulator/simt.h "$out/src/"
python3 tools/cuda-emulator/translate.py kernels "$out/src"
objs=()
for f in "$out"/src/*.cu.cpp; do
  g++ "${flags[@]}" -I"$out/src" -c "$f" -o "${f%.cpp}.o"
  objs+=("${f%.cpp}.o")
done
g++ "${flags[@]}" -shared "${objs[@]}" -o "$out/lib/libkernels.so"
g++ "${flags[@]}" -shared tools/cuda-emulator/fake_driver.cpp -o "$out/lib/libcuda.so.1" -ldl
g++ "${flags[@]}" -shared tools/cuda-emulator/fake_cublas.cpp -o "$out/lib/libcublas.so.12"
echo 'int cublasLtEmulated(void) { return 0; }' | gcc -x c -shared -fPIC -o "$out/lib/libcublasLt.so.12" -
export LD_LIBRARY_PATH="$out/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ACTORS_EMU_KERNELS="$out/lib/libkernels.so"
preload=""
if [ $asan = 1 ]; then
  preload="$(gcc -print-file-name=libasan.so)"
  export ASAN_OPTIONS="detect_leaks=0:handle_segv=0:allow_user_segv_handler=1:detect_odr_violation=0:log_path=$out/asan"
  rm -f "$out"/asan.*
fi
dotnet build tests/Actors.Cuda.Tests -v q -nologo >/dev/null
set +e
if [ -n "$bundle" ]; then
  ACTORS_CUDA_LIBRARY_PATH="$out/lib" ACTORS_CHECK_SECONDS="${ACTORS_CHECK_SECONDS:-1800}" \
  ACTORS_BENCH_ARGS="--types F16,Q4_K_M --batches 1,8 --dim 256 --ffn 512 --heads 4 --kv-heads 2 --vocab 320 --layers 1 --prompt 16 --steps 2 --copy-mib 8" \
    bash "$bundle/run.sh" "$log_dir"
  exit $?
fi
if [ $runner = 1 ]; then
  LD_PRELOAD="$preload" dotnet tests/Actors.Cuda.Tests/bin/Debug/net10.0/Actors.Cuda.Tests.dll "$@"
  exit $?
fi
LD_PRELOAD="$preload" dotnet test tests/Actors.Cuda.Tests --no-build --filter "$filter" 2>&1 | grep -Ev "^\s*$|^A total of|^Test run for|^VSTest"
rc=${PIPESTATUS[0]}
if [ $asan = 1 ] && ls "$out"/asan.* >/dev/null 2>&1; then
  echo "AddressSanitizer reports:"; head -40 "$out"/asan.*; rc=1
fi
exit $rc

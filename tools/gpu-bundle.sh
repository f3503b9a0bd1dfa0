#!/usr/bin/env bash
# Builds the GPU check bundle: a folder to copy to a GPU machine that has no .NET SDK (and maybe no
# network), where `bash OUT_DIR/run.sh LOG_DIR` runs every GPU check in one call (docs/cuda.md).
#   tools/gpu-bundle.sh OUT_DIR
# OUT_DIR gets run.sh, bin/ (a self-contained, trimmed linux-x64 publish of tests/Actors.Cuda.Tests,
# whose Main is the GPU check runner), kernels/ (the .cu sources, also embedded in the runner) and
# VERSION. Needs the .NET SDK and the linux-x64 runtime pack from the package registry (restored on
# first use). Fails if the folder exceeds 60 MiB. Do not run it while `dotnet test` runs in this
# checkout: it restores tests/Actors.Cuda.Tests without the test platform, then back.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then echo "usage: $0 OUT_DIR" >&2; exit 2; fi
out=$1
limit_mib=60
rm -rf "$out"
mkdir -p "$out/bin" "$out/kernels"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# TrimMode=partial trims only assemblies marked trimmable (the framework); ours and xunit's stay
# whole, so the runner's reflection over the test methods keeps working. Reflection-based JSON stays
# on for any library code that uses it (trimming turns it off by default).
dotnet publish tests/Actors.Cuda.Tests -c Release -r linux-x64 --self-contained -p:GpuBundle=true \
  -p:PublishTrimmed=true -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true -p:JsonSerializerIsReflectionEnabledByDefault=true \
  -p:DebugType=none -p:GenerateDocumentationFile=false -o "$out/bin" -v q -nologo
# The publish restored the project without the test platform; restore it back for dotnet test.
dotnet restore tests/Actors.Cuda.Tests -v q -nologo >/dev/null
cp kernels/*.cu kernels/*.cuh "$out/kernels/"
cp tools/gpu-bundle/run.sh "$out/run.sh"
chmod +x "$out/run.sh" "$out/bin/Actors.Cuda.Tests"
printf '%s %s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo -dirty)" "$(date -u +%Y-%m-%dT%H:%MZ)" > "$out/VERSION"
size_kib=$(du -sk "$out" | cut -f1)
echo "gpu-bundle: $out, $((size_kib / 1024)) MiB ($(cat "$out/VERSION"))"
if [ "$size_kib" -gt $((limit_mib * 1024)) ]; then
  echo "gpu-bundle: $out is $((size_kib / 1024)) MiB, over the $limit_mib MiB limit" >&2
  exit 1
fi
echo "run it on a GPU machine with: bash $(basename "$out")/run.sh LOG_DIR"

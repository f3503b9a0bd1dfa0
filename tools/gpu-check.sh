#!/usr/bin/env bash
# The GPU check on a GPU machine that has the .NET SDK: builds the bundle (tools/gpu-bundle.sh) into
# .cache/gpu-bundle and runs it. On a machine without the SDK, copy a bundle there instead and run
# `bash BUNDLE/run.sh LOG_DIR` (docs/cuda.md).
#   tools/gpu-check.sh [LOG_DIR]    (default .cache/gpu-check-logs/<UTC time>)
set -euo pipefail
cd "$(dirname "$0")/.."
log_dir=${1:-.cache/gpu-check-logs/$(date -u +%Y%m%dT%H%M%SZ)}
tools/gpu-bundle.sh .cache/gpu-bundle
exec bash .cache/gpu-bundle/run.sh "$log_dir"

#!/usr/bin/env bash
# Issue 10's first-request goal: TTFT p99 <= 2x p50 over 6 requests of a fresh process (`bench --cold`).
# Runs ROUNDS fresh processes and prints each run's p99 / p50, the medians and how many runs exceed 2x;
# with BEFORE=path/to/another/actors, that build runs interleaved with this one (one process each per round).
#   bash benchmarks/fresh-process-ttft.sh   (env: ROUNDS=12, THREADS=2, BEFORE, NO_BUILD=1 to skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-12}; THREADS=${THREADS:-2}
[ -n "${NO_BUILD:-}" ] || dotnet build -c Release src/Actors.Cli -v q -nologo >/dev/null
A=src/Actors.Cli/bin/Release/net10.0/actors
OUT=$(mktemp)
run() { # label binary
  "$2" bench --requests 6 --concurrency 1 --prompt-tokens 64 --max-tokens 16 --fixed-lengths --cold --json --threads "$THREADS" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(sys.argv[1], r["ttft_ms_p50"], r["ttft_ms_p99"], r.get("ttft_ms_first") or "nan")' "$1" | tee -a "$OUT"
}
echo "load: $(uptime)"
for _ in $(seq "$ROUNDS"); do
  run this "$A"
  [ -z "${BEFORE:-}" ] || run before "$BEFORE"
done
echo "load: $(uptime)"
python3 - "$OUT" <<'PY'
import sys, statistics as st
by = {}
for line in open(sys.argv[1]):
    label, p50, p99, first = line.split()
    by.setdefault(label, []).append((float(p50), float(p99), float(first)))
for label, runs in by.items():
    ratios = [p99 / p50 for p50, p99, _ in runs]
    firsts = [r[2] for r in runs if r[2] == r[2]]  # builds before ttft_ms_first print nan
    first = f"first request {st.median(firsts):.2f} ms  " if firsts else ""
    print(f"{label:<7} p50 {st.median(r[0] for r in runs):.2f} ms  p99 {st.median(r[1] for r in runs):.2f} ms  {first}"
          f"p99/p50 median {st.median(ratios):.2f}  over 2x: {sum(r > 2 for r in ratios)} of {len(ratios)}  "
          f"({' '.join(f'{r:.2f}' for r in ratios)})")
PY

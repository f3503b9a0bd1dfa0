#!/usr/bin/env bash
# Single-stream decode through the whole runtime in a fresh process (`actors bench`, one request),
# next to our bare forward pass and llama.cpp (`Actors.LlamaComparison decode`), interleaved round
# after round on the same file, 2 threads; medians and ratios at the end. This machine is shared:
# compare figures of one run only.
#   bash benchmarks/Actors.LlamaComparison/decode-vs-llamacpp.sh   (env: MODEL, ROUNDS=5, TOKENS=200, THREADS=2,
#     BEFORE=path/to/another/actors to interleave a second build of the runtime, e.g. the branch's starting point)
# Runtime decode tokens/s = (generated - 1) / (run seconds - time to first token): the tokens after the first,
# as the harness counts them after its prompt. Also prints the runtime's context switches per token.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-$HOME/.cache/actors/tiny-llama-d2048-l10-h16-kv16-hd128-f5632-v32000-c2048-q8_0-rb10000-s3-spm.gguf}
ROUNDS=${ROUNDS:-5}; TOKENS=${TOKENS:-200}; THREADS=${THREADS:-2}
[ -n "${NO_BUILD:-}" ] || { dotnet build -c Release src/Actors.Cli -v q -nologo >/dev/null; dotnet build -c Release benchmarks/Actors.LlamaComparison -v q -nologo >/dev/null; }
A=src/Actors.Cli/bin/Release/net10.0/actors
L="dotnet benchmarks/Actors.LlamaComparison/bin/Release/net10.0/Actors.LlamaComparison.dll"
OUT=$(mktemp)
runtime() { # label binary
  local json
  json=$("$2" bench --model "$MODEL" --requests 1 --concurrency 1 --prompt-tokens 8 --max-tokens "$TOKENS" --fixed-lengths --threads "$THREADS" --json 2>&1 | tail -1)
  case "$json" in "{"*) ;; *) echo "$1 failed: $json" >&2; return 0;; esac
  echo "$json" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"engine":sys.argv[1],"tps":(r["generated_tokens"]-1)/(r["seconds"]-r["ttft_ms_p50"]/1000),"itl_p50":r["itl_ms_p50"],"switches":r.get("context_switches_per_token")}))' "$1"
}
echo "load: $(uptime)"
for r in $(seq "$ROUNDS"); do
  runtime runtime "$A" | tee -a "$OUT"
  [ -z "${BEFORE:-}" ] || runtime before "$BEFORE" | tee -a "$OUT"
  $L decode --model "$MODEL" --threads "$THREADS" --tokens "$TOKENS" --rounds 1 | tail -1 \
    | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"engine":"bare","tps":r["bare_tokens_per_second"]})); print(json.dumps({"engine":"llama.cpp","tps":r["llamacpp_tokens_per_second"]}))' | tee -a "$OUT"
done
echo "load: $(uptime)"
python3 - "$OUT" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows: by.setdefault(r["engine"], []).append(r["tps"])
cpp = st.median(by["llama.cpp"])
for e, v in by.items():
    print(f"{e:<10} median {st.median(v):7.2f} t/s  ({', '.join(f'{x:.1f}' for x in v)})  median / llama.cpp {st.median(v) / cpp:.2f}x")
# Per round, each engine against the llama.cpp figure of the same round.
n = len(by["llama.cpp"])
for e, v in by.items():
    if e == "llama.cpp": continue
    ratios = [v[i] / by["llama.cpp"][i] for i in range(min(n, len(v)))]
    print(f"{e:<10} per-round ratio to llama.cpp: median {st.median(ratios):.2f}x ({', '.join(f'{x:.2f}' for x in ratios)})")
PY
rm -f "$OUT"

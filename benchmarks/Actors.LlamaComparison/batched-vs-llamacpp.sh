#!/usr/bin/env bash
# Batched decode and prompt processing, ours (`actors bench --mode continuous --fixed-lengths`) next to
# llama.cpp (LLamaSharp's llama_decode with N sequences), same GGUF files, 2 threads, back to back in one
# run (this machine is shared: compare ratios from one run, not figures across runs).
#   bash benchmarks/Actors.LlamaComparison/batched-vs-llamacpp.sh ["1 8 32"]   (env: MODELS_DIR, REPEATS, DECODE_MODELS, PP_MODELS; an empty list skips that part)
#   BASELINE_ACTORS=/path/to/other/build/actors also runs that build right after ours in every case (before/after in one run).
set -euo pipefail
cd "$(dirname "$0")/../.."
STREAMS=${1:-"1 8 32"}
DIR=${MODELS_DIR:-/tmp/actors-batched}
mkdir -p "$DIR"
dotnet build -c Release src/Actors.Cli -v q -nologo >/dev/null
dotnet build -c Release benchmarks/Actors.LlamaComparison -v q -nologo >/dev/null
A=src/Actors.Cli/bin/Release/net10.0/actors
L="dotnet benchmarks/Actors.LlamaComparison/bin/Release/net10.0/Actors.LlamaComparison.dll"
[ -f "$DIR/f16-21m.gguf" ] || $A make-model --out "$DIR/f16-21m.gguf" --dim 512 --layers 6 --heads 8 --kv-heads 2 --ffn 1408 --vocab 4096 --context 2048 --type F16
[ -f "$DIR/f16-118.gguf" ] || $A make-model --out "$DIR/f16-118.gguf" --dim 1024 --layers 8 --heads 16 --kv-heads 8 --ffn 2816 --vocab 8192 --context 2048 --type F16
[ -f "$DIR/q8-118.gguf" ] || $L quantize --from "$DIR/f16-118.gguf" --to "$DIR/q8-118.gguf" --type Q8_0
for t in Q4_K_M Q5_K_M IQ4_XS; do
  f="$DIR/$(echo $t | tr A-Z a-z)-118.gguf"; [ -f "$f" ] || $L quantize --from "$DIR/f16-118.gguf" --to "$f" --type $t
done
[ -f "$DIR/q3_k_m-118.gguf" ] || $L quantize --from "$DIR/f16-118.gguf" --to "$DIR/q3_k_m-118.gguf" --type Q3_K_M
PP_MODELS=${PP_MODELS-"f16-21m q8-118 q4_k_m-118 q5_k_m-118 iq4_xs-118"}
DECODE_MODELS=${DECODE_MODELS-"f16-21m q8-118"}
# Mixes made only when a list names them: the 32-value block types' (q4_0-118, iq4_nl-118, q5_0-118, q4_1-118,
# q5_1-118) and llama-quantize's Q2_K (q2_k-118).
for t in Q4_0 IQ4_NL Q5_0 Q4_1 Q5_1 Q2_K; do
  m="$(echo $t | tr A-Z a-z)-118"; f="$DIR/$m.gguf"
  case " $PP_MODELS $DECODE_MODELS " in *" $m "*) [ -f "$f" ] || $L quantize --from "$DIR/f16-118.gguf" --to "$f" --type $t ;; esac
done
ours() { # model streams prompt new [requests]
  ours_with "$A" "$@"
}
ours_with() { # binary model streams prompt new [requests]
  local A="$1"; shift
  $A bench --model "$1" --mode continuous --requests "${5:-$2}" --concurrency "$2" --prompt-tokens "$3" --max-tokens "$4" --fixed-lengths --threads 2 --json \
    | python3 -c 'import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); print("%.1f generated tok/s, %.1f prompt tok/s over the run, ttft p50 %.0f ms" % (r["tokens_per_second"], r["prompt_tokens"] / r["seconds"], r["ttft_ms_p50"]))' 
}
echo "load: $(uptime)"
for m in $DECODE_MODELS; do
  for n in $STREAMS; do
    $L batched --model "$DIR/$m.gguf" --streams "$n" --prompt 64 --new 128 --threads 2 --repeats "${REPEATS:-2}"
    echo "ours      $m.gguf streams $n prompt 64 new 128: $(ours "$DIR/$m.gguf" "$n" 64 128)"
    [ -z "${BASELINE_ACTORS:-}" ] || echo "baseline  $m.gguf streams $n prompt 64 new 128: $(ours_with "$BASELINE_ACTORS" "$DIR/$m.gguf" "$n" 64 128)"
  done
done
for m in $PP_MODELS; do
  # Prompt processing: one 512-token prompt, one new token (the first token comes from the prompt's logits).
  $L batched --model "$DIR/$m.gguf" --streams 1 --prompt 512 --new 1 --threads 2 --repeats "${REPEATS:-3}"
  echo "ours      $m.gguf prompt 512 new 1 (3 requests, one at a time): $(ours "$DIR/$m.gguf" 1 512 1 3 | cut -d, -f2-)"
  [ -z "${BASELINE_ACTORS:-}" ] || echo "baseline  $m.gguf prompt 512 new 1 (3 requests, one at a time): $(ours_with "$BASELINE_ACTORS" "$DIR/$m.gguf" 1 512 1 3 | cut -d, -f2-)"
done
echo "load: $(uptime)"

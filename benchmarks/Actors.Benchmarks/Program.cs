using Actors.Benchmarks;
using BenchmarkDotNet.Running;

// `kernels`: the CPU matmul kernel table (a plain console measurement, see KernelBenchmark).
// Anything else goes to BenchmarkDotNet: pick benchmarks with --filter, e.g. --filter '*Scheduler*';
// see docs/benchmarks.md for the exact commands.
if (args.Length > 0 && args[0] == "kernels")
    return KernelBenchmark.Run(args[1..]);
// `repacked-decode`: one token through the row kernel and the repacked tile, interleaved (RepackedDecodeBenchmark).
if (args.Length > 0 && args[0] == "repacked-decode")
    return RepackedDecodeBenchmark.Run(args[1..]);
// `load-phases FILE.gguf [touch]`: what repacking a file's Q4_K weights costs, wall and CPU time (LoadPhases).
if (args.Length > 0 && args[0] == "load-phases")
    return LoadPhases.Run(args[1..]);
// `attention [context] [headDim]`: the attention kernel, reference order vs tiled (AttentionBenchmark).
if (args.Length > 0 && args[0] == "attention")
    return AttentionBenchmark.Run(args[1..]);
// `repacked [TYPE] [SHAPES] [TOKENS]`: a repacked tile against its row kernel, alternated (RepackedVsRowBenchmark).
if (args.Length > 0 && args[0] == "repacked")
    return RepackedVsRowBenchmark.Run(args[1..]);
// `repack-ab MODEL [ROUNDS] [TYPES]`: one model repacking TYPES against the default set, alternated (RepackAbBenchmark).
if (args.Length > 0 && args[0] == "repack-ab")
    return RepackAbBenchmark.Run(args[1..]);
// `logit-rows MODEL [SEQUENCES] [THREADS] [ROUNDS]`: a greedy decode step with whole logit rows against top-1 per row (LogitRowsBenchmark).
if (args.Length > 0 && args[0] == "logit-rows")
    return LogitRowsBenchmark.Run(args[1..]);
// `logit-rows-tail VOCAB [SEQUENCES] [ROUNDS]`: only the part the two differ in, on random logits (LogitRowsBenchmark.Tail).
if (args.Length > 0 && args[0] == "logit-rows-tail")
    return LogitRowsBenchmark.Tail(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(KernelBenchmark).Assembly).Run(args);
return 0;

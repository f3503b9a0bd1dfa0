using Actors.Benchmarks;

// Small console benchmarks. Timings on shared machines are noisy: each number is a median of repeats.
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: Actors.Benchmarks kernels [--quick] [--no-ggml] [--types F32,Q4_0,...] [--path Avx512|Avx2|Portable]");
    return 0;
}
switch (args[0])
{
    case "kernels":
        return KernelBenchmark.Run(args[1..]);
    default:
        Console.Error.WriteLine($"unknown command '{args[0]}'");
        return 2;
}

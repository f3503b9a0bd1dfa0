using BenchmarkDotNet.Running;

// Pick benchmarks with --filter, e.g. --filter '*Scheduler*'; see docs/benchmarks.md for the exact commands.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

using System.Diagnostics;
using Actors.Cuda.Tests.GpuCheck;
using Actors.Interop.Cuda;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>The GPU check runner's decisions, tested without a GPU: which cases exist, how a child's lines are read, how isolation resumes.</summary>
public class GpuCheckRunnerTests
{
    private static readonly IReadOnlyList<GpuCase> All = GpuCaseCatalog.All();

    [Fact]
    public void Catalog_holds_every_gpu_fact_and_theory_row_with_unique_ids()
    {
        Assert.Equal(All.Count, All.Select(c => c.Id).Distinct().Count());
        Assert.Equal(["op", "stage"], All.Select(c => c.Group).Distinct().Order());
        var rms = All.Where(c => c.MethodId == "GpuOpTests.RmsNorm_scales_each_row_by_its_inverse_rms").ToList();
        Assert.Equal(4, rms.Count);
        Assert.Equal("GpuOpTests.RmsNorm_scales_each_row_by_its_inverse_rms#2", rms[2].Id);
        Assert.Equal("GpuOpTests.RmsNorm_scales_each_row_by_its_inverse_rms(17, 4096)", rms[2].Display);
        Assert.Contains(All, c => c.Id == "GpuStageTests.Device_describes_itself" && c.Arguments.Length == 0);
        // Every [GpuFact]/[GpuTheory] method in the assembly has at least one case.
        int methods = typeof(GpuOpTests).Assembly.GetTypes().SelectMany(t => t.GetMethods())
            .Count(m => m.IsDefined(typeof(GpuFactAttribute), false) || m.IsDefined(typeof(GpuTheoryAttribute), false));
        Assert.Equal(methods, All.Select(c => c.MethodId).Distinct().Count());
    }

    [Fact]
    public void Selecting_by_method_takes_all_its_rows_and_an_unknown_id_is_named()
    {
        var chosen = GpuCaseCatalog.Select(All, ["GpuOpTests.Residual_add_adds_in_place", "GpuStageTests.Device_describes_itself"]);
        Assert.Equal(4, chosen.Count);
        var e = Assert.Throws<ArgumentException>(() => GpuCaseCatalog.Select(All, ["GpuOpTests.Nope#3"]));
        Assert.Contains("GpuOpTests.Nope#3", e.Message);
    }

    private static GpuCase Case(string id) => All[0] with { Id = id };

    private static CudaException Lost() => new(CudaApi.Driver, "cuStreamSynchronize", 700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered");

    [Fact]
    public void Runner_reports_each_case_and_stops_after_a_sticky_error()
    {
        var output = new StringWriter();
        int exit = CaseRunner.Run([Case("a"), Case("b"), Case("c"), Case("d")], output, c =>
        {
            if (c.Id == "b") throw new InvalidOperationException("wrong\nanswer");
            if (c.Id == "c") throw new System.Reflection.TargetInvocationException(new CudaException("wrapped", Lost()));
        });
        Assert.Equal(CaseRunner.ExitContextLost, exit);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("START a", lines[0]);
        Assert.StartsWith("PASS a ", lines[1]);
        Assert.Matches(@"^FAIL b [0-9.]+ .*InvalidOperationException: wrong \| answer$", lines[3]);
        Assert.StartsWith("FAIL c ", lines[5]);
        Assert.Equal("LOST c", lines[6]);
        Assert.DoesNotContain(lines, l => l.Contains(" d"));
    }

    [Fact]
    public void Runner_exit_code_is_one_for_plain_failures_and_zero_when_all_pass()
    {
        Assert.Equal(CaseRunner.ExitPassed, CaseRunner.Run([Case("a")], new StringWriter(), _ => { }));
        Assert.Equal(CaseRunner.ExitFailed, CaseRunner.Run([Case("a"), Case("b")], new StringWriter(), c => { if (c.Id == "a") throw new Exception("x"); }));
    }

    [Theory]
    [InlineData(700, true)]
    [InlineData(719, true)]
    [InlineData(715, true)]
    [InlineData(701, false)] // out of resources: the launch failed, the context is fine
    [InlineData(2, false)]
    public void Sticky_driver_errors_mark_the_context_as_lost(int code, bool lost) =>
        Assert.Equal(lost, new CudaException(CudaApi.Driver, "cuLaunchKernel", code, "X", null).IsContextLost);

    /// <summary>Fake children: each case id maps to what happens when a child reaches it.</summary>
    private static Func<IReadOnlyList<string>, ChildRun> Children(Dictionary<string, string> behaviour, List<IReadOnlyList<string>> calls)
    {
        return ids =>
        {
            calls.Add(ids);
            var lines = new List<string>();
            foreach (string id in ids)
            {
                lines.Add($"START {id}");
                switch (behaviour.GetValueOrDefault(id, "pass"))
                {
                    case "pass": lines.Add($"PASS {id} 0.010"); break;
                    case "fail": lines.Add($"FAIL {id} 0.020 {id}: Assert failed"); break;
                    case "lost": lines.Add($"FAIL {id} 0.030 {id}: CudaException: illegal address"); lines.Add($"LOST {id}"); return new ChildRun(lines, CaseRunner.ExitContextLost, false, 1);
                    case "crash": lines.Add("Segmentation fault"); return new ChildRun(lines, 139, false, 2);
                    case "hang": return new ChildRun(lines, 137, true, 45);
                    case "memcheck": lines.Add("========= Invalid __global__ read of size 4 bytes"); lines.Add($"PASS {id} 0.5"); break;
                }
            }
            return new ChildRun(lines, lines.Any(l => l.StartsWith("FAIL")) ? 1 : 0, false, 1);
        };
    }

    [Fact]
    public void Isolation_charges_a_lost_context_crash_or_hang_to_its_case_and_resumes_with_the_next()
    {
        var cases = new[] { "A#0", "A#1", "A#2", "A#3", "A#4", "B#0", "B#1" }.Select(id => Case(id) with { Method = typeof(GpuOpTests).GetMethod(id[0] == 'A' ? "Residual_add_adds_in_place" : "Silu_mul_is_silu_of_gate_times_up")! }).ToList();
        var calls = new List<IReadOnlyList<string>>();
        var behaviour = new Dictionary<string, string> { ["A#1"] = "lost", ["A#2"] = "crash", ["A#3"] = "hang", ["B#0"] = "fail" };

        var results = IsolatedSuite.Run(cases, Children(behaviour, calls), budgetSeconds: 1000);

        Assert.Equal(cases.Select(c => c.Id), results.Select(r => r.Id));
        Assert.Equal([CaseOutcome.Passed, CaseOutcome.Failed, CaseOutcome.Crashed, CaseOutcome.TimedOut, CaseOutcome.Passed, CaseOutcome.Failed, CaseOutcome.Passed],
            results.Select(r => r.Outcome));
        Assert.Contains("died (exit 139)", results[2].Message);
        Assert.Contains("Segmentation fault", results[2].Message);
        Assert.Contains("timed out", results[3].Message);
        // One process per method, and a new one after each case that ended its process.
        Assert.Equal([["A#0", "A#1", "A#2", "A#3", "A#4"], ["A#2", "A#3", "A#4"], ["A#3", "A#4"], ["A#4"], ["B#0", "B#1"]], calls.Select(c => c.ToArray()));
    }

    [Fact]
    public void A_child_that_never_reaches_a_case_leaves_the_method_not_run_with_its_output()
    {
        var cases = new[] { Case("A#0"), Case("A#1") };
        var results = IsolatedSuite.Run(cases, _ => new ChildRun(["Error: Target application terminated before first instrumented API call"], 255, false, 1), 100);
        Assert.All(results, r => Assert.Equal(CaseOutcome.NotRun, r.Outcome));
        Assert.Contains("before its first case", results[0].Message);
        Assert.Contains("Target application terminated", results[0].Message);
    }

    [Fact]
    public void Cases_beyond_the_time_budget_are_reported_as_not_run()
    {
        var cases = new[] { Case("A#0") with { Method = typeof(GpuOpTests).GetMethod("Residual_add_adds_in_place")! }, Case("B#0") };
        var calls = new List<IReadOnlyList<string>>();
        var results = IsolatedSuite.Run(cases, ids => { Thread.Sleep(60); return Children([], calls)(ids); }, budgetSeconds: 0.05);
        Assert.Equal([CaseOutcome.Passed, CaseOutcome.NotRun], results.Select(r => r.Outcome));
        Assert.Contains("budget", results[1].Message);
    }

    [Fact]
    public void Sanitizer_findings_fail_the_case_they_appear_in()
    {
        var calls = new List<IReadOnlyList<string>>();
        var cases = new[] { Case("A#0"), Case("A#1") };
        var results = IsolatedSuite.Run(cases, Children(new() { ["A#1"] = "memcheck" }, calls), 100, memcheckError: IsolatedSuite.SanitizerError);
        Assert.Equal([CaseOutcome.Passed, CaseOutcome.Failed], results.Select(r => r.Outcome));
        Assert.Contains("Invalid __global__ read", results[1].Message);
        Assert.Null(IsolatedSuite.SanitizerError("x", ["========= COMPUTE-SANITIZER", "=========", "========= ERROR SUMMARY: 0 errors"]));
    }

    [Fact]
    public void A_child_is_killed_when_one_case_outlasts_the_timeout_not_when_all_together_do()
    {
        if (!OperatingSystem.IsLinux()) return;
        // The wrapper stands in for the child: six 1-second cases (6 s together, more than the 4 s
        // timeout, with 3 s of slack each for a loaded machine), then one that hangs.
        const string script = "for i in 0 1 2 3 4 5; do echo \"START A#$i\"; sleep 1; echo \"PASS A#$i 1\"; done; echo 'START A#6'; exec sleep 60";
        string[] ids = ["A#0", "A#1", "A#2", "A#3", "A#4", "A#5", "A#6"];
        var sw = Stopwatch.StartNew();
        var child = IsolatedSuite.RunChildProcess(ids, ["bash", "-c", script], timeoutSeconds: 4, log: null);
        Assert.True(child.TimedOut);
        Assert.True(sw.Elapsed.TotalSeconds < 40, $"took {sw.Elapsed.TotalSeconds:0} s");
        var results = IsolatedSuite.Interpret(ids, child);
        Assert.Equal([.. Enumerable.Repeat(CaseOutcome.Passed, 6), CaseOutcome.TimedOut], results.Select(r => r.Outcome));
    }

    [Fact]
    public void A_real_child_runs_a_case_and_reports_it_on_the_line_protocol()
    {
        if (TestEnvironment.Cuda.IsAvailable) return; // on a GPU the case passes; here it must fail saying why
        var child = IsolatedSuite.RunChildProcess(["GpuStageTests.Device_describes_itself"], [], timeoutSeconds: 60, log: null);
        Assert.False(child.TimedOut);
        Assert.Equal(CaseRunner.ExitFailed, child.ExitCode);
        var result = Assert.Single(IsolatedSuite.Interpret(["GpuStageTests.Device_describes_itself"], child));
        Assert.Equal(CaseOutcome.Failed, result.Outcome);
        Assert.Contains("no CUDA device", result.Message);
    }

    [Fact]
    public void Options_split_values_positionals_and_the_wrapped_command()
    {
        var (o, positional, wrapper) = GpuCheck.Program.ParseOptions(["op", "--timeout", "45", "--wrap", "/x/compute-sanitizer", "--tool", "memcheck"]);
        Assert.Equal("45", o["timeout"]);
        Assert.Equal(["op"], positional);
        Assert.Equal(["/x/compute-sanitizer", "--tool", "memcheck"], wrapper);
        Assert.Throws<ArgumentException>(() => GpuCheck.Program.ParseOptions(["--budget"]));
    }

    [Fact]
    public void Case_results_are_json_lines_without_reflection()
    {
        string line = GpuCheck.Program.ToJson("op", true, new CaseResult("A#1", CaseOutcome.Crashed, 1.23456, "died \"here\"\nnow"));
        Assert.DoesNotContain('\n', line);
        using var json = System.Text.Json.JsonDocument.Parse(line);
        Assert.Equal("Crashed", json.RootElement.GetProperty("outcome").GetString());
        Assert.Equal(1.235, json.RootElement.GetProperty("seconds").GetDouble());
        Assert.Equal("died \"here\"\nnow", json.RootElement.GetProperty("message").GetString());
        Assert.True(json.RootElement.GetProperty("sanitizer").GetBoolean());
    }

    [Fact]
    public void Benchmark_rows_print_as_one_parseable_line()
    {
        var row = new BenchmarkRow("Q4_K_M", 8, 12345.6, 1.5, 5333.3, 1800.25, 3000);
        Assert.Equal("BENCH type=Q4_K_M batch=8 prefill_tok_s=12346 decode_step_ms=1.500 decode_tok_s=5333.3 weight_gb_s=1800.3 copy_gb_s=3000.0 of_copy=0.600", row.ToLine());
    }

    [Fact]
    public void Run_sh_without_a_gpu_says_so_and_exits_3_with_a_summary()
    {
        if (!OperatingSystem.IsLinux() || TestEnvironment.Cuda.IsAvailable || File.Exists("/dev/nvidiactl")) return;
        string runSh = Path.Combine(TestEnvironment.KernelsDirectory, "..", "tools", "gpu-bundle", "run.sh");
        string logDir = Path.Combine(Path.GetTempPath(), "actors-runsh-" + Guid.NewGuid().ToString("N"));
        try
        {
            // env -i: nothing from this environment (no dotnet on PATH, no HOME); bash and coreutils only.
            var psi = new ProcessStartInfo("env", ["-i", "bash", runSh, logDir]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(60_000), "run.sh did not finish in 60 s");
            Assert.Equal(3, p.ExitCode);
            Assert.Contains("no NVIDIA GPU found", output);
            string summary = File.ReadAllText(Path.Combine(logDir, "summary.json"));
            Assert.Contains("\"exit\":3", summary);
            Assert.Contains("\"result\":\"no-gpu\"", summary);
            using var json = System.Text.Json.JsonDocument.Parse(summary);
            Assert.Equal("facts", json.RootElement.GetProperty("steps")[0].GetProperty("step").GetString());
            Assert.Contains("no NVIDIA GPU found", File.ReadAllText(Path.Combine(logDir, "gpu-check.log")));
        }
        finally
        {
            if (Directory.Exists(logDir)) Directory.Delete(logDir, true);
        }
    }
}

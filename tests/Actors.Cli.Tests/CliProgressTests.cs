using System.Diagnostics;
using Actors.Inference.Synthetic;

namespace Actors.Cli.Tests;

/// <summary>Progress bars are for a person at a terminal: never in JSON, pipes or files, where the plain log lines stay.</summary>
public sealed class CliProgressTests
{
    [Theory]
    [InlineData(false, false, false, true)]
    [InlineData(true, false, false, false)]
    [InlineData(false, true, false, false)]
    [InlineData(false, false, true, false)]
    public void A_bar_is_drawn_only_without_json_and_with_neither_stream_redirected(bool json, bool outRedirected, bool errRedirected, bool shown) =>
        Assert.Equal(shown, CliProgress.ShouldShow(json, outRedirected, errRedirected));

    [Fact]
    public async Task Without_a_bar_the_work_runs_and_its_steps_are_log_lines()
    {
        var log = new StringWriter();
        var reports = new List<double>();
        int result = await CliProgress.Run(false, "work", 3, progress =>
        {
            progress.Step("first step");
            progress.Report(1);
            progress.SetTotal(5);
            progress.Indeterminate();
            progress.Step("second step");
            return 42;
        }, log);
        Assert.Equal(42, result);
        Assert.Equal(["first step", "second step"], log.ToString().ReplaceLineEndings("\n").TrimEnd().Split('\n'));
    }

    [Fact]
    public void Model_generation_reports_every_step_up_to_the_total()
    {
        var spec = new SyntheticModelSpec { Dim = 32, Heads = 2, KvHeads = 1, Ffn = 64, Layers = 3, Vocab = 300, Context = 64, WeightType = "F32" };
        var seen = new List<(int Done, int Total)>();
        string path = Path.Combine(Path.GetTempPath(), $"actors-progress-{Guid.NewGuid():N}.gguf");
        try
        {
            SyntheticModelGenerator.Write(path, spec, (done, total) => seen.Add((done, total)));
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Equal(Enumerable.Range(1, SyntheticModelGenerator.Steps(spec)).Select(i => (i, SyntheticModelGenerator.Steps(spec))), seen);
    }

    [Fact]
    public async Task A_piped_make_model_writes_no_terminal_control_codes()
    {
        string dir = Directory.CreateTempSubdirectory("actors-progress-").FullName;
        try
        {
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = dir,
            };
            foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "actors.dll"), "make-model", "--out", "m.gguf", "--dim", "32", "--heads", "2",
                         "--kv-heads", "1", "--ffn", "64", "--layers", "2", "--vocab", "300", "--context", "64", "--type", "F32" })
                start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(60_000));
            Assert.Equal(0, process.ExitCode);
            Assert.StartsWith("wrote ", await stdout);
            Assert.DoesNotContain('\u001b', await stdout + await stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

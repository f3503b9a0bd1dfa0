using System.Text.Json;
using Actors.Cli;
using Actors.Cli.Commands;

namespace Actors.Cli.Tests;

/// <summary>`actors bench` on the embedded default model, as its JSON reports it.</summary>
public sealed class BenchCommandTests
{
    private static async Task<JsonElement> Bench(params string[] args)
    {
        var command = new BenchCommand();
        var writer = new StringWriter();
        int code = await command.RunAsync(new Arguments(command.Name, [.. args, "--json", "--threads", "1"], command.Options), writer, CancellationToken.None);
        Assert.Equal(0, code);
        return JsonDocument.Parse(writer.ToString()).RootElement;
    }

    [Fact]
    public async Task A_cold_run_reports_every_measured_request_and_nothing_of_the_dry_requests_that_compile_the_bench_first()
    {
        var r = await Bench("--requests", "3", "--concurrency", "2", "--prompt-tokens", "8", "--max-tokens", "4", "--fixed-lengths", "--cold");
        Assert.Equal(3, r.GetProperty("requests").GetInt32());
        Assert.Equal(3, r.GetProperty("completed").GetInt32());
        Assert.Equal(0, r.GetProperty("rejected").GetInt32());
        Assert.Equal(12, r.GetProperty("generated_tokens").GetInt64());
        Assert.Equal(24, r.GetProperty("prompt_tokens").GetInt64());
        Assert.True(r.GetProperty("ttft_ms_p50").GetDouble() > 0);
        Assert.True(r.GetProperty("ttft_ms_first").GetDouble() > 0);
    }

    [Fact]
    public async Task The_first_request_TTFT_of_a_one_request_run_is_its_only_TTFT()
    {
        var r = await Bench("--requests", "1", "--prompt-tokens", "8", "--max-tokens", "2", "--fixed-lengths", "--cold");
        Assert.Equal(r.GetProperty("ttft_ms_p50").GetDouble(), r.GetProperty("ttft_ms_first").GetDouble());
    }

    [Fact]
    public async Task Every_mode_of_all_counts_only_its_own_requests()
    {
        var r = await Bench("--mode", "all", "--requests", "2", "--concurrency", "2", "--prompt-tokens", "6", "--max-tokens", "3", "--fixed-lengths");
        foreach (var mode in new[] { "sequential", "static", "continuous" })
        {
            var m = r.GetProperty(mode);
            Assert.Equal(2, m.GetProperty("completed").GetInt32());
            Assert.Equal(0, m.GetProperty("rejected").GetInt32());
            Assert.Equal(6, m.GetProperty("generated_tokens").GetInt64());
        }
    }

    [Fact]
    public async Task A_bad_switch_value_is_a_one_line_error_naming_the_option()
    {
        var command = new BenchCommand();
        var e = await Assert.ThrowsAsync<CliException>(() => command.RunAsync(new Arguments(command.Name, ["--warm-up", "maybe"], command.Options), new StringWriter(), CancellationToken.None));
        Assert.Equal("option '--warm-up' must be on or off, got 'maybe'", e.Message);
    }
}

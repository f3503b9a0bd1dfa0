using System.Text.Json;
using Actors.Cli;
using Actors.Cli.Commands;

namespace Actors.Cli.Tests;

/// <summary>`actors plan` as a user meets it: argument errors, names, fits, JSON and the comparison plot.</summary>
public sealed class PlanCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("actors-plan-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Code, string Output)> Plan(params string[] args)
    {
        var command = new PlanCommand();
        var writer = new StringWriter();
        int code = await command.RunAsync(new Arguments(command.Name, args, command.Options), writer, CancellationToken.None);
        return (code, writer.ToString());
    }

    private static async Task<string> Error(params string[] args)
        => (await Assert.ThrowsAsync<CliException>(() => Plan(args))).Message;

    [Fact]
    public async Task Missing_and_malformed_options_are_one_line_errors_naming_the_value()
    {
        Assert.Equal("option '--model' is required", await Error("--gpus", "4xrtx3090"));
        Assert.Equal("option '--gpus' is required", await Error("--model", "llama-2-7b"));
        Assert.Equal("option '--batch' must be an integer, got 'many'", await Error("--model", "llama-2-7b", "--gpus", "4xrtx3090", "--batch", "many"));
        Assert.Contains("'sideways'", await Error("--model", "llama-2-7b", "--gpus", "4xrtx3090", "--compare=sideways"));
        Assert.Contains("'plot.png'", await Error("--model", "llama-2-7b", "--gpus", "4xrtx3090", "--plot", "plot.png"));
        Assert.Equal("NVLink pair '2' should look like 0-1", await Error("--model", "llama-2-7b", "--gpus", "4xrtx3090", "--nvlink-pairs", "0-1,2"));
        var unknownOption = Assert.Throws<CliException>(() => new Arguments("plan", ["--gpu", "x"], new PlanCommand().Options));
        Assert.Contains("--gpus", unknownOption.Message);
    }

    [Fact]
    public async Task Unknown_gpu_model_quant_and_workload_list_the_known_ones()
    {
        var gpu = await Error("--model", "llama-2-7b", "--gpus", "4xrtx9090");
        Assert.Contains("'rtx9090'", gpu);
        Assert.Contains("rtx-3090", gpu);
        var model = await Error("--model", "llama-9-7b", "--gpus", "4xrtx3090");
        Assert.Contains("'llama-9-7b'", model);
        Assert.Contains("llama-2-70b", model);
        var quant = await Error("--model", "llama-2-7b", "--gpus", "4xrtx3090", "--quant", "q9_z");
        Assert.Contains("'q9_z'", quant);
        Assert.Contains("Q4_K", quant);
        var workload = await Error("--model", "llama-2-7b", "--gpus", "4xrtx3090", "--workload", "nightly");
        Assert.Contains("chat, long-context, batch-decode", workload);
        var link = await Error("--model", "llama-2-7b", "--gpus", "4xrtx3090", "--link", "pcie9");
        Assert.Contains("pcie4-p2p", link);
    }

    [Fact]
    public async Task Both_spellings_of_a_rig_give_the_same_plan()
    {
        var (a, outA) = await Plan("--model", "llama-2-13b", "--gpus", "4xrtx3090", "--link", "pcie4", "--batch", "16");
        var (b, outB) = await Plan("--model", "llama-2-13b", "--gpus", "4x rtx-3090", "--batch", "16");
        Assert.Equal(0, a);
        Assert.Equal(0, b);
        Assert.Equal(outA, outB);
        Assert.Contains("recommended", outA);
        Assert.Contains("decode tok/s", outA);
        Assert.Contains("GB/dev", outA);
    }

    [Fact]
    public async Task Without_quant_the_most_precise_fitting_format_is_chosen_and_said()
    {
        var (code, output) = await Plan("--model", "llama-2-70b", "--gpus", "4xrtx3090", "--batch", "8");
        Assert.Equal(0, code);
        Assert.Contains("Q8_0", output);
        Assert.Contains("the most precise format that fits", output);
        Assert.Contains("F16 is short by", output);
    }

    [Fact]
    public async Task A_layout_that_does_not_fit_says_by_how_much_per_device()
    {
        var (code, output) = await Plan("--model", "llama-2-70b", "--gpus", "4xrtx3090", "--quant", "F16", "--tp", "4");
        Assert.Equal(1, code);
        Assert.Contains("no layout fits", output);
        Assert.Matches(@"short by \d+\.\d GB per device", output);
        Assert.Matches(@"no \(-\d+\.\d GB\)", output);
    }

    [Fact]
    public async Task Json_is_one_object_with_the_recommended_figures_and_every_layout()
    {
        var (code, output) = await Plan("--model", "llama-2-7b", "--gpus", "4xrtx3090", "--nvlink-pairs", "0-1,2-3", "--batch", "32", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        foreach (var field in new[] { "decode_tokens_per_second", "prefill_tokens_per_second", "ttft_ms_p50", "itl_ms_p50", "interconnect_share" })
            Assert.True(root.GetProperty(field).GetDouble() >= 0, field);
        Assert.Equal(root.GetProperty("recommended").GetString(), root.GetProperty("layout").GetString());
        Assert.True(root.GetProperty("decode_tokens_per_second").GetDouble() > 100);
        Assert.True(root.GetProperty("layouts").GetArrayLength() >= 4);
        Assert.Equal("F16", root.GetProperty("weights").GetString());
        Assert.Equal(32, root.GetProperty("workload").GetProperty("concurrency").GetInt32());
    }

    [Fact]
    public async Task Compare_writes_an_svg_beside_the_table()
    {
        string plot = Path.Combine(_dir, "compare.svg");
        var (code, output) = await Plan("--model", "llama-2-13b", "--gpus", "4xrtx3090", "--batch", "16", "--compare=link,layout,batch", "--plot", plot);
        Assert.Equal(0, code);
        Assert.True(File.Exists(plot));
        string svg = File.ReadAllText(plot);
        Assert.StartsWith("<svg", svg);
        Assert.Contains("NVLink pairs 0-1,2-3", svg);
        Assert.Contains("batch 16", svg);
        Assert.Contains("compare: layouts", output);
        Assert.Contains("compare: batch sizes", output);
        Assert.Contains(plot, output);
    }

    [Fact]
    public async Task Simulate_adds_event_driven_figures_for_pipeline_and_replica_layouts()
    {
        var (code, output) = await Plan("--model", "llama-2-7b", "--gpus", "2xrtx3090", "--quant", "q4_0", "--batch", "4", "--pp", "2",
            "--simulate", "--requests", "8", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var methods = doc.RootElement.GetProperty("layouts").EnumerateArray().Select(l => l.GetProperty("method").GetString()).ToArray();
        Assert.Equal(["analytic", "simulated"], methods);
        Assert.Equal("simulated", doc.RootElement.GetProperty("simulated").GetProperty("method").GetString());
    }
}

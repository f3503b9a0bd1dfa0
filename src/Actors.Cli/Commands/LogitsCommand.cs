using System.Text.Json;
using Actors.Inference.Cpu;
using Actors.Inference.Generation;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors logits`: per-position logits of one sequence as JSON {"n_vocab":N,"logits":[[...],...]},
/// the format used to compare engines.
/// </summary>
public sealed class LogitsCommand : ICommand
{
    public string Name => "logits";
    public string Summary => "per-position logits of one token sequence as JSON, for comparing engines";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("tokens", "comma-separated token ids, e.g. 1,2,3"),
        new("out", "write the JSON to this file instead of stdout"),
        new("threads", "CPU threads in total (0 = all cores)", "0"),
        new("pipeline", "split the layers over N CPU devices (pipeline stages)", "1"),
    ];

    public Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        var tokens = a.IntList("tokens") ?? throw new CliException("option '--tokens' is required (e.g. --tokens 1,2,3)");
        using var model = ModelArguments.Open(a);
        int vocab = model.Config.VocabSize;
        for (int i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)vocab)
                throw new CliException($"token id {tokens[i]} (position {i}) is outside the vocabulary 0..{vocab - 1}");
        if (tokens.Length > model.Config.ContextLength)
            throw new CliException($"{tokens.Length} tokens exceed the model's context of {model.Config.ContextLength}");
        int pipeline = a.Int("pipeline", 1, model.Config.BlockCount);
        int threads = a.Int("threads", 0, 1024);
        int each = Math.Max(1, (threads > 0 ? threads : Environment.ProcessorCount) / pipeline);
        var devices = Enumerable.Range(0, pipeline).Select(i => new CpuDevice($"cpu:{i}", each)).ToList();
        var ranges = Actors.Runtime.Layout.LayoutPlanner.Split(
            new Actors.Runtime.Layout.LayerCosts(model.Layers.Select(l => l.ByteSize).ToList(), 0, 0, 0), Enumerable.Repeat(1.0, pipeline).ToList());
        using var runner = new SequenceRunner(devices.Zip(ranges, (d, r) => ((Actors.Inference.Compute.IComputeDevice)d, r)).ToList(), model,
            contextLength: Math.Max(tokens.Length, 16), maxBatchTokens: tokens.Length);
        var logits = runner.Feed(tokens, allLogits: true);

        string? outPath = a.String("out");
        using var stream = outPath != null ? File.Create(outPath) : Console.OpenStandardOutput();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteNumber("n_vocab", vocab);
            json.WriteStartArray("logits");
            for (int i = 0; i < tokens.Length; i++)
            {
                json.WriteStartArray();
                for (int j = 0; j < vocab; j++) json.WriteNumberValue(logits[i * vocab + j]);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        foreach (var d in devices) d.Dispose();
        if (outPath != null) output.WriteLine($"wrote logits of {tokens.Length} positions x {vocab} to {outPath}");
        else stream.WriteByte((byte)'\n');
        return Task.FromResult(0);
    }
}

using Actors.Inference.Cpu;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Interop;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// Repacking at load replaces the mapped weights rather than doubling them: the source pages are
/// released and stay readable (the OS reads them back), so embedding lookups on a repacked tensor
/// still work.
/// </summary>
public class RepackedResidencyTests
{
    [Fact]
    public void Released_mapped_pages_read_back_the_same_bytes()
    {
        string path = Path.Combine(Path.GetTempPath(), $"actors-release-{Guid.NewGuid():N}.bin");
        var bytes = new byte[3 * Environment.SystemPageSize + 123];
        new Random(5).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        try
        {
            using var mapped = MappedFile.Open(path);
            Assert.True(mapped.Span(0, bytes.Length).SequenceEqual(bytes));
            mapped.Release(17, bytes.Length - 17);
            Assert.True(mapped.Span(0, bytes.Length).SequenceEqual(bytes));
            Assert.Throws<ArgumentOutOfRangeException>(() => mapped.Release(bytes.Length + 1, 1));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_Q8_0_model_is_repacked_at_load_and_its_embedding_rows_stay_readable()
    {
        if (!WeightRepacking.Supports(GgmlType.Q8_0) || !WeightRepacking.Enabled) return;
        string path = SyntheticModelGenerator.EnsureCached(new SyntheticModelSpec
        {
            Dim = 256, Layers = 2, Heads = 4, KvHeads = 2, Ffn = 512, Vocab = 320, Context = 256, WeightType = "Q8_0", Seed = 7,
        });
        using var model = LlamaModel.Open(path);
        var before = new float[model.Config.EmbeddingLength];
        model.TokenEmbedding.DequantizeRow(5, before);
        using var device = new CpuDevice("cpu:0", 2);
        using var runner = new Actors.Inference.Generation.SequenceRunner(device, model, contextLength: 32, maxBatchTokens: 8);
        Assert.All(model.Layers.SelectMany(l => l.Matrices), w => Assert.NotNull(w.Repacked));
        var after = new float[model.Config.EmbeddingLength];
        model.TokenEmbedding.DequantizeRow(5, after);
        Assert.Equal(before, after);
        var logits = runner.Feed([3, 9, 27], allLogits: false);
        Assert.All(logits.ToArray(), v => Assert.True(float.IsFinite(v)));
    }
}

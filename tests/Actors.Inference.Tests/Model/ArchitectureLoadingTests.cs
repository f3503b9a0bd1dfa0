using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;

namespace Actors.Inference.Tests.Model;

/// <summary>
/// Architecture files with something wrong fail at load with one line naming the key or tensor;
/// good ones carry their per-layer attention description.
/// </summary>
public sealed class ArchitectureLoadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("arch-load").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A generated model of <paramref name="spec"/>, its metadata and tensors passed through filters.</summary>
    private string Variant(SyntheticModelSpec spec, Func<string, GgufValue, GgufValue?> meta, Func<GgufTensorInfo, bool>? keepTensor = null)
    {
        string src = Path.Combine(_dir, "src.gguf");
        SyntheticModelGenerator.Write(src, spec);
        using var f = GgufFile.Open(src);
        var w = new GgufWriter();
        foreach (var key in f.MetadataKeys)
        {
            var v = meta(key, f.Metadata[key]);
            if (v == null) continue;
            if (v.IsArray) w.AddArray(key, v.ElementType, (Array)v.Value); else w.Add(key, v.Type, v.Value);
        }
        foreach (var t in f.Tensors)
            if (keepTensor?.Invoke(t) ?? true) w.AddTensor(t.Name, t.Type, t.Dims, f.TensorSpan(t, 0, (int)t.ByteSize).ToArray());
        string path = Path.Combine(_dir, "variant.gguf");
        w.Write(path);
        return path;
    }

    private static string LoadError(string path)
    {
        var ex = Assert.Throws<ModelFormatException>(() => LlamaModel.Open(path));
        Assert.DoesNotContain('\n', ex.Message);
        return ex.Message;
    }

    private static GgufValue Shorter(GgufValue v, int drop)
    {
        var a = (Array)v.Value;
        var b = Array.CreateInstance(a.GetType().GetElementType()!, a.Length - drop);
        Array.Copy(a, b, b.Length);
        return new GgufValue(GgufValueType.Array, b, v.ElementType);
    }

    [Fact]
    public void Unknown_architecture_is_refused_naming_it_and_every_supported_one()
    {
        string msg = LoadError(Variant(new SyntheticModelSpec(), (k, v) => k == "general.architecture" ? new GgufValue(GgufValueType.String, "rwkv7") : v));
        Assert.Contains("'rwkv7'", msg);
        foreach (var a in new[] { "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3" }) Assert.Contains(a, msg);
    }

    [Theory]
    [InlineData("gemma3", "gemma3.attention.sliding_window")]
    [InlineData("qwen2", "qwen2.attention.layer_norm_rms_epsilon")]
    [InlineData("phi3", "phi3.feed_forward_length")]
    public void Missing_required_architecture_key_is_named(string arch, string key)
    {
        var spec = ArchitectureSpec(arch);
        Assert.Contains($"'{key}' is missing", LoadError(Variant(spec, (k, v) => k == key ? null : v)));
    }

    [Theory]
    [InlineData("qwen2", "blk.1.attn_k.bias")]
    [InlineData("qwen3", "blk.0.attn_q_norm.weight")]
    [InlineData("gemma2", "blk.1.post_ffw_norm.weight")]
    [InlineData("phi3", "blk.0.attn_qkv.weight")]
    public void Missing_architecture_tensor_is_named(string arch, string tensor)
    {
        var spec = ArchitectureSpec(arch);
        Assert.Contains($"'{(arch == "phi3" ? "blk.0.attn_q.weight" : tensor)}' is missing", LoadError(Variant(spec, (_, v) => v, t => t.Name != tensor)));
    }

    [Theory]
    [InlineData("tokenizer.ggml.scores")]
    [InlineData("tokenizer.ggml.token_type")]
    public void Vocabulary_array_shorter_than_the_token_list_is_named(string key)
    {
        string msg = LoadError(Variant(new SyntheticModelSpec(), (k, v) => k == key ? Shorter(v, 3) : v));
        Assert.Contains($"'{key}' has 317 entries, fewer than the 320", msg);
    }

    [Fact]
    public void Vocabulary_shorter_than_the_embedding_rows_is_refused()
    {
        string msg = LoadError(Variant(new SyntheticModelSpec(), (k, v) => k switch
        {
            "tokenizer.ggml.tokens" or "tokenizer.ggml.scores" or "tokenizer.ggml.token_type" => Shorter(v, 5),
            _ => v,
        }));
        Assert.Contains("'tokenizer.ggml.tokens' has 315 entries but tensor 'token_embd.weight' has 320 rows", msg);
    }

    [Fact]
    public void Gemma3_layers_slide_five_in_six_with_their_own_rope_base()
    {
        string path = Variant(ArchitectureSpec("gemma3") with { Layers = 7, RopeBase = 1000000f }, (_, v) => v);
        using var model = LlamaModel.Open(path);
        var layers = model.Config.LayerAttentions;
        Assert.Equal([true, true, true, true, true, false, true], layers.Select(l => l.IsSliding));
        Assert.All(layers.Where(l => l.IsSliding), l => Assert.Equal(10000f, l.Rope.FreqBase));
        Assert.Equal(1000000f, layers[5].Rope.FreqBase);
        Assert.All(layers, l => Assert.Equal(RopeStyle.Neox, l.Rope.Style));
    }

    [Fact]
    public void Gemma2_alternates_sliding_and_global_layers_and_defaults_its_soft_caps()
    {
        string path = Variant(new SyntheticModelSpec { Architecture = "gemma2", Layers = 4 }, (_, v) => v);
        using var model = LlamaModel.Open(path);
        Assert.Equal([true, false, true, false], model.Config.LayerAttentions.Select(l => l.IsSliding));
        Assert.Equal(4096, model.Config.SlidingWindow);
        Assert.Equal(50f, model.Config.AttentionSoftcap);
        Assert.Equal(30f, model.Config.FinalLogitSoftcap);
    }

    [Fact]
    public void Sliding_layers_need_only_the_blocks_their_window_can_span()
    {
        var sliding = new LayerAttention(0, 1024, null!);
        var global = new LayerAttention(1, 0, null!);
        Assert.Equal(65, sliding.KvBlocksNeeded(8192, 16));   // 1024/16 + the block the window straddles
        Assert.Equal(512, global.KvBlocksNeeded(8192, 16));
        Assert.Equal(2, sliding.KvBlocksNeeded(20, 16));      // never more than the sequence itself
        Assert.Equal(977, sliding.FirstVisiblePosition(2000));
        Assert.Equal(0, global.FirstVisiblePosition(2000));
    }

    [Fact]
    public void Gemma3_sequence_needs_a_fraction_of_the_kv_of_full_attention_layers()
    {
        string path = Variant(ArchitectureSpec("gemma3") with { Layers = 12, SlidingWindow = 64 }, (_, v) => v);
        using var model = LlamaModel.Open(path);
        var c = model.Config;
        long full = c.KvBytesPerToken(2) * 4096;
        long perLayerBlock = 16L * 2 * c.KvDim * 2;
        // 2 global layers keep 256 blocks, 10 sliding ones 64/16 + 1 = 5 blocks.
        Assert.Equal((2 * 256 + 10 * 5) * perLayerBlock, c.KvBytesPerSequence(4096, 16, 2));
        Assert.True(c.KvBytesPerSequence(4096, 16, 2) < full / 5);
        var llama = c with { Architecture = "llama", Traits = ArchitectureTraits.Llama, SlidingWindow = 0 };
        Assert.Equal(llama.KvBytesPerToken(2) * 4096, llama.KvBytesPerSequence(4096, 16, 2)); // no sliding layer: the shared pool's size
    }

    [Fact]
    public void Phi3_takes_the_long_rope_factors_only_for_sequences_longer_than_the_original_context()
    {
        string path = Variant(ArchitectureSpec("phi3") with { Context = 8192, RopeOriginalContext = 4096 }, (_, v) => v);
        float[] Factors(string tensor)
        {
            using var f = GgufFile.Open(path);
            var t = f.FindTensor(tensor)!;
            var values = new float[t.ElementCount];
            Actors.Inference.Quantization.ReferenceQuantizer.Dequantize(t.Type, f.TensorSpan(t, 0, (int)t.ByteSize), values);
            return values;
        }
        using (var byModel = LlamaModel.Open(path)) Assert.Equal(Factors("rope_factors_long.weight"), byModel.Config.Rope.FreqFactors);
        using (var short4k = LlamaModel.Open(path, sequenceContext: 4096)) Assert.Equal(Factors("rope_factors_short.weight"), short4k.Config.Rope.FreqFactors);
        using (var long5k = LlamaModel.Open(path, sequenceContext: 5000)) Assert.Equal(Factors("rope_factors_long.weight"), long5k.Config.Rope.FreqFactors);
    }

    private static SyntheticModelSpec ArchitectureSpec(string arch) => arch switch
    {
        "gemma3" => new SyntheticModelSpec { Architecture = arch, SlidingWindow = 8 },
        "qwen2" or "phi3" => new SyntheticModelSpec { Architecture = arch, KvHeads = 2 },
        _ => new SyntheticModelSpec { Architecture = arch },
    };
}

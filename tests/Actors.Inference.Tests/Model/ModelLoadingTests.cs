using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;

namespace Actors.Inference.Tests.Model;

/// <summary>Files that are valid GGUF but not a model we can run fail at load, naming the tensor or key.</summary>
public sealed class ModelLoadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("model-load").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Rewrites a generated model through a filter over its metadata and tensors.</summary>
    private string Variant(Func<string, GgufValue, GgufValue?> meta, Func<GgufTensorInfo, (GgmlType, long[], byte[])?> tensor, SyntheticModelSpec? spec = null)
    {
        string src = Path.Combine(_dir, "src.gguf");
        SyntheticModelGenerator.Write(src, spec ?? new SyntheticModelSpec());
        using var f = GgufFile.Open(src);
        var w = new GgufWriter();
        foreach (var key in f.MetadataKeys)
        {
            var v = meta(key, f.Metadata[key]);
            if (v == null) continue;
            if (v.IsArray) w.AddArray(key, v.ElementType, (Array)v.Value); else w.Add(key, v.Type, v.Value);
        }
        foreach (var t in f.Tensors)
        {
            var r = tensor(t);
            if (r is var (type, dims, data)) w.AddTensor(t.Name, type, dims, data);
        }
        string path = Path.Combine(_dir, "variant.gguf");
        w.Write(path);
        return path;
    }

    private static (GgmlType, long[], byte[])? Keep(GgufFile f, GgufTensorInfo t) => (t.Type, t.Dims, f.TensorSpan(t, 0, (int)t.ByteSize).ToArray());

    [Fact]
    public void Unsupported_architecture_is_named_with_the_supported_ones()
    {
        string src = Path.Combine(_dir, "s.gguf");
        SyntheticModelGenerator.Write(src, new SyntheticModelSpec());
        using var f = GgufFile.Open(src);
        string path = Variant((k, v) => k == "general.architecture" ? new GgufValue(GgufValueType.String, "mamba") : v, t => Keep(f, t));
        var ex = Assert.Throws<ModelFormatException>(() => LlamaModel.Open(path));
        Assert.Contains("'mamba'", ex.Message);
        Assert.Contains("llama", ex.Message);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        string src = Path.Combine(_dir, "s.gguf");
        SyntheticModelGenerator.Write(src, new SyntheticModelSpec());
        using var f = GgufFile.Open(src);
        string path = Variant((_, v) => v, t => t.Name == "blk.1.ffn_up.weight" ? null : Keep(f, t));
        Assert.Contains("'blk.1.ffn_up.weight' is missing", Assert.Throws<ModelFormatException>(() => LlamaModel.Open(path)).Message);
    }

    [Fact]
    public void Inconsistent_shape_names_tensor_and_expected_shape()
    {
        string src = Path.Combine(_dir, "s.gguf");
        SyntheticModelGenerator.Write(src, new SyntheticModelSpec());
        using var f = GgufFile.Open(src);
        string path = Variant((k, v) => k == "llama.attention.head_count_kv" ? new GgufValue(GgufValueType.UInt32, 4u) : v, t => Keep(f, t));
        var ex = Assert.Throws<ModelFormatException>(() => LlamaModel.Open(path));
        Assert.Contains("blk.0.attn_k.weight", ex.Message);
        Assert.Contains("expected [64, 64]", ex.Message);
    }

    [Theory]
    [InlineData(GgmlType.IQ2_XXS)]
    [InlineData(GgmlType.IQ2_S)]
    [InlineData(GgmlType.IQ3_XXS)]
    [InlineData(GgmlType.IQ1_M)]
    [InlineData(GgmlType.TQ1_0)]
    [InlineData(GgmlType.TQ2_0)]
    [InlineData(GgmlType.Q8_1)]
    public void Unsupported_tensor_type_is_named_with_the_supported_list(GgmlType type)
    {
        var spec = new SyntheticModelSpec { Dim = 256, Heads = 4, KvHeads = 2, Ffn = 256 };
        string src = Path.Combine(_dir, "s.gguf");
        SyntheticModelGenerator.Write(src, spec);
        using var f = GgufFile.Open(src);
        int bs = GgmlTypeInfo.BlockSize(type), bb = GgmlTypeInfo.BlockBytes(type);
        string path = Variant((_, v) => v, t => t.Name == "blk.0.attn_q.weight" ? (type, t.Dims, new byte[t.ElementCount / bs * bb]) : Keep(f, t), spec);
        var ex = Assert.Throws<ModelFormatException>(() => LlamaModel.Open(path));
        Assert.Contains(type.ToString(), ex.Message);
        Assert.Contains("blk.0.attn_q.weight", ex.Message);
        Assert.Contains(GgmlTypeInfo.SupportedWeightTypeList, ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void Heads_not_dividing_kv_heads_is_named()
    {
        string src = Path.Combine(_dir, "s.gguf");
        SyntheticModelGenerator.Write(src, new SyntheticModelSpec());
        using var f = GgufFile.Open(src);
        string path = Variant((k, v) => k == "llama.attention.head_count_kv" ? new GgufValue(GgufValueType.UInt32, 3u) : v, t => Keep(f, t));
        Assert.Contains("head_count_kv 3", Assert.Throws<ModelFormatException>(() => LlamaModel.Open(path)).Message);
    }

    [Fact]
    public void Missing_required_key_is_named()
    {
        string src = Path.Combine(_dir, "s.gguf");
        SyntheticModelGenerator.Write(src, new SyntheticModelSpec());
        using var f = GgufFile.Open(src);
        string path = Variant((k, v) => k == "llama.block_count" ? null : v, t => Keep(f, t));
        Assert.Contains("'llama.block_count' is missing", Assert.Throws<ModelFormatException>(() => LlamaModel.Open(path)).Message);
    }
}

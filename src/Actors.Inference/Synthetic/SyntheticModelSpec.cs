using Actors.Inference.Gguf;

namespace Actors.Inference.Synthetic;

/// <summary>
/// The shape of a generated Llama model. <see cref="WeightType"/> is a GGUF type name or the mixture
/// "Q4_K_M" (Q4_K, with attn_v, ffn_down and the output head in Q6_K, as llama.cpp's Q4_K_M files).
/// </summary>
public sealed record SyntheticModelSpec
{
    public int Dim { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    /// <summary>Head size; 0 means Dim / Heads.</summary>
    public int HeadDim { get; init; }
    public int Ffn { get; init; } = 128;
    public int Vocab { get; init; } = 320;
    public int Context { get; init; } = 256;
    public string WeightType { get; init; } = "F32";
    public float RopeBase { get; init; } = 10000f;
    public float RmsEps { get; init; } = 1e-5f;
    public ulong Seed { get; init; } = 1;
    public SyntheticVocabularyKind Vocabulary { get; init; } = SyntheticVocabularyKind.SentencePiece;
    /// <summary>Writes output.weight; false ties the head to token_embd.</summary>
    public bool SeparateOutput { get; init; } = true;
    /// <summary>Llama-3.1 style rope scaling (rope_freqs.weight), as factor, or 0 for none.</summary>
    public float Llama3RopeFactor { get; init; }
    /// <summary>Linear rope scaling factor written as rope.scaling.*, or 0 for none.</summary>
    public float LinearRopeFactor { get; init; }
    /// <summary>GGUF version to write (2 or 3).</summary>
    public uint GgufVersion { get; init; } = 3;

    public int EffectiveHeadDim => HeadDim > 0 ? HeadDim : Dim / Heads;

    /// <summary>A short name that identifies the shape, for cache file names.</summary>
    public string CacheKey =>
        $"d{Dim}-l{Layers}-h{Heads}-kv{KvHeads}-hd{EffectiveHeadDim}-f{Ffn}-v{Vocab}-c{Context}-{WeightType.ToLowerInvariant()}" +
        $"-rb{RopeBase:0.###}-s{Seed}-{(Vocabulary == SyntheticVocabularyKind.SentencePiece ? "spm" : "bpe")}" +
        (SeparateOutput ? "" : "-tied") + (Llama3RopeFactor > 0 ? $"-l3r{Llama3RopeFactor:0.##}" : "") +
        (LinearRopeFactor > 0 ? $"-lin{LinearRopeFactor:0.##}" : "") + (GgufVersion != 3 ? $"-v{GgufVersion}" : "");

    /// <summary>The tensor type of one weight, resolving mixtures.</summary>
    public GgmlType TypeOf(string tensorName)
    {
        string t = WeightType.ToUpperInvariant();
        if (t == "Q4_K_M")
            return tensorName.Contains("attn_v") || tensorName.Contains("ffn_down") || tensorName == "output.weight" ? GgmlType.Q6_K : GgmlType.Q4_K;
        return Enum.TryParse<GgmlType>(t, out var type) && Quantization.ReferenceQuantizer.CanQuantize(type)
            ? type
            : throw new ArgumentException($"weight type '{WeightType}' is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, Q4_K_M)");
    }

    /// <summary>Checks every number and every tensor's row length against its type's block size.</summary>
    public void Validate()
    {
        void Positive(string name, int v) { if (v <= 0) throw new ArgumentException($"{name} must be positive, got {v}"); }
        Positive("dim", Dim); Positive("layers", Layers); Positive("heads", Heads); Positive("kv-heads", KvHeads);
        Positive("ffn", Ffn); Positive("vocab", Vocab); Positive("context", Context);
        if (HeadDim == 0 && Dim % Heads != 0) throw new ArgumentException($"dim {Dim} is not divisible by heads {Heads}; give --head-dim");
        if (Heads % KvHeads != 0) throw new ArgumentException($"heads {Heads} is not a multiple of kv-heads {KvHeads}");
        if (EffectiveHeadDim % 2 != 0) throw new ArgumentException($"head size {EffectiveHeadDim} must be even for RoPE");
        if (Vocab < SyntheticVocabulary.MinimumSize(Vocabulary)) throw new ArgumentException($"vocab {Vocab} is below the minimum {SyntheticVocabulary.MinimumSize(Vocabulary)}");
        if (!(RopeBase > 1)) throw new ArgumentException($"rope base {RopeBase} must be greater than 1");
        CheckRows("blk.0.attn_q.weight", Dim);
        CheckRows("blk.0.attn_v.weight", Dim);
        CheckRows("blk.0.attn_output.weight", Heads * EffectiveHeadDim);
        CheckRows("blk.0.ffn_gate.weight", Dim);
        CheckRows("blk.0.ffn_down.weight", Ffn);
        CheckRows("output.weight", Dim);
    }

    private void CheckRows(string tensor, int rowLength)
    {
        var type = TypeOf(tensor);
        int bs = GgmlTypeInfo.BlockSize(type);
        if (rowLength % bs != 0)
            throw new ArgumentException($"{type} needs rows that are a multiple of {bs} values, but {tensor} has rows of {rowLength}");
    }
}

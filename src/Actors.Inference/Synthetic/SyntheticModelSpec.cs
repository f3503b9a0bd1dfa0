using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Synthetic;

/// <summary>
/// The shape of a generated model of one of the supported architectures (<see cref="Architecture"/>). <see cref="WeightType"/> is a GGUF type name or the mixture
/// "Q4_K_M" (Q4_K, with attn_v, ffn_down and the output head in Q6_K, as llama.cpp's Q4_K_M files).
/// </summary>
public sealed record SyntheticModelSpec
{
    /// <summary>GGUF architecture: llama, mistral, qwen2, qwen3, gemma2, gemma3 or phi3.</summary>
    public string Architecture { get; init; } = "llama";
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
    /// <summary>A real vocabulary (imported from Hugging Face files) written instead of the generated one;
    /// <see cref="Vocab"/> must then equal its size.</summary>
    public Tokenization.ImportedTokenizer? ImportedVocabulary { get; init; }
    /// <summary>Writes output.weight; false ties the head to token_embd.</summary>
    public bool SeparateOutput { get; init; } = true;
    /// <summary>Llama-3.1 style rope scaling (rope_freqs.weight), as factor, or 0 for none.</summary>
    public float Llama3RopeFactor { get; init; }
    /// <summary>Linear rope scaling factor written as rope.scaling.*, or 0 for none.</summary>
    public float LinearRopeFactor { get; init; }
    /// <summary>Sliding window of gemma2/gemma3 (attention.sliding_window); 0 writes none (gemma2 then defaults to 4096).</summary>
    public int SlidingWindow { get; init; }
    /// <summary>gemma2's attn_logit_softcapping and final_logit_softcapping; 0 writes none (llama.cpp defaults 50 and 30).</summary>
    public float AttnSoftcap { get; init; }
    public float FinalSoftcap { get; init; }
    /// <summary>phi3's rope.scaling.original_context_length: the long rope factors apply above it.</summary>
    public int RopeOriginalContext { get; init; } = 4096;
    /// <summary>GGUF version to write (2 or 3).</summary>
    public uint GgufVersion { get; init; } = 3;

    public int EffectiveHeadDim => HeadDim > 0 ? HeadDim : Dim / Heads;

    public ArchitectureTraits Traits => ArchitectureTraits.Find(Architecture)
        ?? throw new ArgumentException($"architecture '{Architecture}' is not supported (supported: {ArchitectureTraits.SupportedList})");

    /// <summary>A short name that identifies the shape, for cache file names.</summary>
    public string CacheKey =>
        (Architecture == "llama" ? "" : Architecture + "-") + $"d{Dim}-l{Layers}-h{Heads}-kv{KvHeads}-hd{EffectiveHeadDim}-f{Ffn}-v{Vocab}-c{Context}-{WeightType.ToLowerInvariant()}" +
        $"-rb{RopeBase:0.###}-s{Seed}-{(Vocabulary == SyntheticVocabularyKind.SentencePiece ? "spm" : "bpe")}" +
        (SeparateOutput ? "" : "-tied") + (Llama3RopeFactor > 0 ? $"-l3r{Llama3RopeFactor:0.##}" : "") +
        (LinearRopeFactor > 0 ? $"-lin{LinearRopeFactor:0.##}" : "") + (GgufVersion != 3 ? $"-v{GgufVersion}" : "") +
        (SlidingWindow > 0 ? $"-swa{SlidingWindow}" : "") + (AttnSoftcap > 0 ? $"-ac{AttnSoftcap:0.##}" : "") + (FinalSoftcap > 0 ? $"-fc{FinalSoftcap:0.##}" : "") +
        (Architecture == "phi3" ? $"-oc{RopeOriginalContext}" : "") +
        (ImportedVocabulary is { } v ? $"-hf{DeterministicRandom.Hash(v.Model + string.Join("\n", v.Tokens) + v.ChatTemplate):x}" : "");

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
        if (ImportedVocabulary != null && Vocab != ImportedVocabulary.VocabSize)
            throw new ArgumentException($"vocab {Vocab} differs from the imported vocabulary's {ImportedVocabulary.VocabSize} tokens");
        if (ImportedVocabulary == null && Vocab < SyntheticVocabulary.MinimumSize(Vocabulary)) throw new ArgumentException($"vocab {Vocab} is below the minimum {SyntheticVocabulary.MinimumSize(Vocabulary)}");
        if (!(RopeBase > 1)) throw new ArgumentException($"rope base {RopeBase} must be greater than 1");
        var traits = Traits;
        // llama.cpp shapes qwen2's attn_q and phi3's attn_qkv/attn_output with embedding_length for the query.
        if (Architecture is "qwen2" or "phi3" && Heads * EffectiveHeadDim != Dim)
            throw new ArgumentException($"{Architecture} needs heads x head size = dim, got {Heads} x {EffectiveHeadDim} != {Dim}");
        if (Architecture == "gemma3" && SlidingWindow <= 0) throw new ArgumentException("gemma3 needs a sliding window (--sliding-window)");
        if (SlidingWindow < 0) throw new ArgumentException($"sliding window {SlidingWindow} must not be negative");
        if (traits.SlidingPattern == 0 && SlidingWindow > 0) throw new ArgumentException($"{Architecture} has no sliding-window layers; drop --sliding-window");
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

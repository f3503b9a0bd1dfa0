using Actors.Inference.Gguf;
using Actors.Inference.Quantization;

namespace Actors.Inference.Synthetic;

/// <summary>
/// Writes a valid GGUF of a tiny (or not so tiny) model of any supported architecture, with the
/// tensor names llama.cpp expects, deterministic random weights and a
/// generated tokenizer vocabulary. Weights are drawn per row from a generator seeded by
/// (seed, tensor name, row), so the file is the same whatever the thread count.
/// </summary>
public static class SyntheticModelGenerator
{
    public static void Write(string path, SyntheticModelSpec spec) => Write(path, spec, null);

    /// <param name="progress">Told (steps done, steps in all) as the tensors are drawn and the file is written: the
    /// token embedding, each layer, the output, the write.</param>
    public static void Write(string path, SyntheticModelSpec spec, Action<int, int>? progress)
    {
        spec.Validate();
        var w = Build(spec, progress);
        w.Write(path);
        progress?.Invoke(Steps(spec), Steps(spec));
    }

    /// <summary>Progress steps of <see cref="Write(string, SyntheticModelSpec, Action{int, int}?)"/>.</summary>
    public static int Steps(SyntheticModelSpec spec) => spec.Layers + 3;

    /// <summary>Returns the path of a cached model of this shape, generating it on first use.</summary>
    public static string EnsureCached(SyntheticModelSpec spec, string? cacheDir = null)
    {
        cacheDir ??= DefaultCacheDirectory;
        string path = Path.Combine(cacheDir, $"tiny-{(spec.Architecture == "llama" ? "llama-" : "")}{spec.CacheKey}.gguf");
        if (!File.Exists(path)) Write(path, spec);
        return path;
    }

    /// <summary>$ACTORS_CACHE, else ~/.cache/actors.</summary>
    public static string DefaultCacheDirectory =>
        Environment.GetEnvironmentVariable("ACTORS_CACHE") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile, Environment.SpecialFolderOption.DoNotVerify), ".cache", "actors");

    public static GgufWriter Build(SyntheticModelSpec spec) => Build(spec, null);

    private static GgufWriter Build(SyntheticModelSpec spec, Action<int, int>? progress)
    {
        int steps = Steps(spec), done = 0;
        var traits = spec.Traits;
        string a = spec.Architecture;
        int hd = spec.EffectiveHeadDim;
        int qDim = spec.Heads * hd, kvDim = spec.KvHeads * hd;
        var w = new GgufWriter { Version = spec.GgufVersion };
        w.AddString("general.architecture", a);
        // llama.cpp gives a model whose name contains "phi3" or "phi-3" Phi-3's special-token attributes,
        // looking up "<s>", "</s>", "<unk>" and "<|endoftext|>", which a generated vocabulary lacks.
        w.AddString("general.name", $"tiny-{a} {spec.CacheKey}".Replace("phi3", "phi 3"));
        w.AddUInt32("general.quantization_version", 2);
        w.AddUInt32("general.alignment", 32);
        w.AddUInt32($"{a}.context_length", (uint)spec.Context);
        w.AddUInt32($"{a}.embedding_length", (uint)spec.Dim);
        w.AddUInt32($"{a}.block_count", (uint)spec.Layers);
        w.AddUInt32($"{a}.feed_forward_length", (uint)spec.Ffn);
        w.AddUInt32($"{a}.attention.head_count", (uint)spec.Heads);
        w.AddUInt32($"{a}.attention.head_count_kv", (uint)spec.KvHeads);
        if (spec.HeadDim > 0)
        {
            w.AddUInt32($"{a}.attention.key_length", (uint)hd);
            w.AddUInt32($"{a}.attention.value_length", (uint)hd);
        }
        w.AddFloat32($"{a}.attention.layer_norm_rms_epsilon", spec.RmsEps);
        w.AddUInt32($"{a}.rope.dimension_count", (uint)hd);
        w.AddFloat32($"{a}.rope.freq_base", spec.RopeBase);
        if (spec.LinearRopeFactor > 0)
        {
            w.AddString($"{a}.rope.scaling.type", "linear");
            w.AddFloat32($"{a}.rope.scaling.factor", spec.LinearRopeFactor);
        }
        if (spec.SlidingWindow > 0) w.AddUInt32($"{a}.attention.sliding_window", (uint)spec.SlidingWindow);
        if (spec.AttnSoftcap > 0) w.AddFloat32($"{a}.attn_logit_softcapping", spec.AttnSoftcap);
        if (spec.FinalSoftcap > 0) w.AddFloat32($"{a}.final_logit_softcapping", spec.FinalSoftcap);
        if (a == "phi3")
        {
            // LongRoPE as Phi-3-128k's converter writes it: both factor sets, the original context and
            // the attention factor sqrt(1 + ln(scale)/ln(original)).
            w.AddUInt32($"{a}.rope.scaling.original_context_length", (uint)spec.RopeOriginalContext);
            w.AddFloat32($"{a}.rope.scaling.attn_factor", (float)Math.Sqrt(1 + Math.Log(32.0) / Math.Log(spec.RopeOriginalContext)));
        }
        w.AddUInt32($"{a}.vocab_size", (uint)spec.Vocab);
        if (spec.ImportedVocabulary is { } imported) imported.WriteTo(w);
        else WriteVocabulary(w, SyntheticVocabulary.Build(spec.Vocabulary, spec.Vocab));

        // Embeddings of unit scale (gemma multiplies them by sqrt(dim), so they are drawn 1/sqrt(dim)
        // smaller); projections scaled by 1/sqrt(fan-in) so activations stay O(1). Projections back into
        // the residual stream get a further 1/sqrt(2·layers) (GPT-2's init), so the stream is dominated
        // by the residual as in trained models rather than re-drawn every layer.
        double residual = 1.0 / Math.Sqrt(2.0 * spec.Layers);
        double inStd = 1.0 / Math.Sqrt(spec.Dim);
        Matrix(w, spec, "token_embd.weight", spec.Vocab, spec.Dim, traits.ScaleEmbedding ? inStd : 1.0);
        progress?.Invoke(++done, steps);
        for (int l = 0; l < spec.Layers; l++)
        {
            string p = $"blk.{l}.";
            Norm(w, spec, p + "attn_norm.weight", spec.Dim);
            if (traits.FusedQkv)
                Matrix(w, spec, p + "attn_qkv.weight", qDim + 2 * kvDim, spec.Dim, inStd);
            else
            {
                Matrix(w, spec, p + "attn_q.weight", qDim, spec.Dim, inStd);
                Matrix(w, spec, p + "attn_k.weight", kvDim, spec.Dim, inStd);
                Matrix(w, spec, p + "attn_v.weight", kvDim, spec.Dim, inStd);
            }
            if (traits.QkvBias)
            {
                Vector(w, spec, p + "attn_q.bias", qDim, 0, 0.5);
                Vector(w, spec, p + "attn_k.bias", kvDim, 0, 0.5);
                Vector(w, spec, p + "attn_v.bias", kvDim, 0, 0.5);
            }
            if (traits.QkNorm)
            {
                Norm(w, spec, p + "attn_q_norm.weight", hd);
                Norm(w, spec, p + "attn_k_norm.weight", hd);
            }
            Matrix(w, spec, p + "attn_output.weight", spec.Dim, qDim, residual / Math.Sqrt(qDim));
            if (traits.PostNorms) Norm(w, spec, p + "post_attention_norm.weight", spec.Dim);
            Norm(w, spec, p + "ffn_norm.weight", spec.Dim);
            if (traits.FusedGateUp)
                Matrix(w, spec, p + "ffn_up.weight", 2 * spec.Ffn, spec.Dim, inStd); // gate rows, then up rows
            else
            {
                Matrix(w, spec, p + "ffn_gate.weight", spec.Ffn, spec.Dim, inStd);
                Matrix(w, spec, p + "ffn_up.weight", spec.Ffn, spec.Dim, inStd);
            }
            Matrix(w, spec, p + "ffn_down.weight", spec.Dim, spec.Ffn, residual / Math.Sqrt(spec.Ffn));
            if (traits.PostNorms) Norm(w, spec, p + "post_ffw_norm.weight", spec.Dim);
            progress?.Invoke(++done, steps);
        }
        Norm(w, spec, "output_norm.weight", spec.Dim);
        if (spec.SeparateOutput) Matrix(w, spec, "output.weight", spec.Vocab, spec.Dim, inStd);
        if (spec.Llama3RopeFactor > 0) w.AddTensor("rope_freqs.weight", GgmlType.F32, [hd / 2], F32Bytes(Llama3FreqFactors(spec, hd)));
        if (a == "phi3")
        {
            Vector(w, spec, "rope_factors_long.weight", hd / 2, 2.5, 1.0, min: 1.0);
            Vector(w, spec, "rope_factors_short.weight", hd / 2, 1.2, 0.2, min: 1.0);
        }
        progress?.Invoke(++done, steps);
        return w;
    }

    private static void WriteVocabulary(GgufWriter w, SyntheticVocabularyData vocab)
    {
        w.AddString("tokenizer.ggml.model", vocab.Model);
        if (vocab.Pre != null) w.AddString("tokenizer.ggml.pre", vocab.Pre);
        w.AddArray("tokenizer.ggml.tokens", GgufValueType.String, vocab.Tokens);
        w.AddArray("tokenizer.ggml.scores", GgufValueType.Float32, vocab.Scores);
        w.AddArray("tokenizer.ggml.token_type", GgufValueType.Int32, vocab.TokenTypes);
        if (vocab.Merges != null) w.AddArray("tokenizer.ggml.merges", GgufValueType.String, vocab.Merges);
        w.AddUInt32("tokenizer.ggml.bos_token_id", (uint)vocab.BosId);
        w.AddUInt32("tokenizer.ggml.eos_token_id", (uint)vocab.EosId);
        if (vocab.UnknownId is int unk) w.AddUInt32("tokenizer.ggml.unknown_token_id", (uint)unk);
        w.AddBool("tokenizer.ggml.add_bos_token", vocab.AddBos);
        w.AddBool("tokenizer.ggml.add_eos_token", false);
    }

    /// <summary>
    /// Llama 3.1 rope factors as llama.cpp's converter computes them (low_freq_factor 1, high_freq_factor 4,
    /// original context 8192): long wavelengths are divided by the factor, short ones kept, a smooth ramp between.
    /// </summary>
    public static float[] Llama3FreqFactors(SyntheticModelSpec spec, int hd, float lowFreqFactor = 1f, float highFreqFactor = 4f, int oldContext = 8192)
    {
        var factors = new float[hd / 2];
        double lowWavelen = oldContext / lowFreqFactor, highWavelen = oldContext / highFreqFactor;
        for (int i = 0; i < factors.Length; i++)
        {
            double freq = 1.0 / Math.Pow(spec.RopeBase, 2.0 * i / hd);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) factors[i] = 1f;
            else if (wavelen > lowWavelen) factors[i] = spec.Llama3RopeFactor;
            else
            {
                double smooth = (oldContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                factors[i] = (float)(1.0 / ((1 - smooth) / spec.Llama3RopeFactor + smooth));
            }
        }
        return factors;
    }

    private static void Matrix(GgufWriter w, SyntheticModelSpec spec, string name, int rows, int cols, double std)
    {
        var type = spec.TypeOf(name);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var data = new byte[(long)rowBytes * rows];
        ulong tensorSeed = DeterministicRandom.Mix(spec.Seed, DeterministicRandom.Hash(name));
        Parallel.For(0, rows, () => new float[cols], (r, _, row) =>
        {
            var rng = new DeterministicRandom(DeterministicRandom.Mix(tensorSeed, (ulong)r));
            for (int i = 0; i < cols; i++) row[i] = (float)(rng.NextGaussian() * std);
            ReferenceQuantizer.Quantize(type, row, data.AsSpan(r * rowBytes, rowBytes));
            return row;
        }, _ => { });
        w.AddTensor(name, type, [cols, rows], data);
    }

    private static void Norm(GgufWriter w, SyntheticModelSpec spec, string name, int n) => Vector(w, spec, name, n, 1.0, 0.2);

    /// <summary>An F32 vector of mean + std·N(0, 1) values, at least <paramref name="min"/>.</summary>
    private static void Vector(GgufWriter w, SyntheticModelSpec spec, string name, int n, double mean, double std, double min = double.NegativeInfinity)
    {
        var rng = new DeterministicRandom(DeterministicRandom.Mix(spec.Seed, DeterministicRandom.Hash(name)));
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)Math.Max(min, mean + std * rng.NextGaussian());
        w.AddTensor(name, GgmlType.F32, [n], F32Bytes(v));
    }

    private static byte[] F32Bytes(float[] v)
    {
        var bytes = new byte[v.Length * 4];
        Buffer.BlockCopy(v, 0, bytes, 0, bytes.Length);
        return bytes;
    }
}

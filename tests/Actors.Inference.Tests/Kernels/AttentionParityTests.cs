using Actors.Inference.Cpu.Ops;
using Actors.Inference.Synthetic;
using Actors.Inference.Tests.Support;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// <see cref="PagedAttention"/> against llama.cpp's own attention ops (ggml's CPU backend, the build
/// LLamaSharp ships) on random inputs, as llama.cpp's graph builds them for a batch of several tokens
/// with flash attention off and an F32 cache of 256 cells: KQ = mul_mat(K, permuted Q), optional
/// soft-cap (scale, tanh, scale), soft_max_ext with the causal (and sliding-window) mask and the
/// scale, then mul_mat(Vᵀ, KQ). Every output float must have the same bits.
/// </summary>
public sealed class AttentionParityTests
{
    private const int Cells = 256; // llama.cpp pads the cells it attends over to a multiple of 256

    /// <summary>head size, heads, KV heads, tokens in the batch, position of the first, window (0 = full), soft-cap (0 = none).</summary>
    public static TheoryData<int, int, int, int, int, int, float> Cases() => new()
    {
        { 64, 4, 2, 16, 0, 0, 0f },      // one 64-block per dot
        { 32, 8, 2, 16, 0, 0, 0f },      // the dot is all tail: two runs of 16 products
        { 96, 8, 4, 16, 0, 0, 0f },      // a 64-block and a tail of 32
        { 128, 2, 1, 40, 0, 0, 0f },     // two 64-blocks, 40 positions (partial 16-cell group)
        { 36, 3, 3, 21, 0, 0, 0f },      // tail 16 + 16 + 4 scalar FMAs
        { 72, 4, 1, 9, 0, 0, 0f },       // a 64-block and a tail of 8
        { 100, 2, 2, 18, 0, 0, 0f },     // 64 + 16 + 16 + 4
        { 64, 4, 2, 9, 23, 0, 0f },      // a chunk at positions 23..31 after 23 cached ones
        { 64, 4, 2, 20, 0, 8, 4f },      // gemma2: sliding window 8, soft-cap 4, Q pre-scaled (softmax scale 1)
        { 128, 2, 1, 40, 0, 5, 0f },     // sliding window 5 over 40 positions
        { 64, 2, 1, 30, 170, 0, 50f },   // late positions, llama.cpp's default soft-cap
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Paged_attention_has_the_bits_of_llama_cpp_attention_for_a_prompt_batch(int headDim, int heads, int kvHeads, int tokens, int first, int window, float softcap)
    {
        if (!GgmlGraph.IsAvx512Build) return; // ggml's AVX2 build sums in 8 lanes; the engine reproduces the AVX-512 build
        var expected = LlamaCppAttention(headDim, heads, kvHeads, tokens, first, window, softcap, out var inputs);
        AssertSameBits(expected, Ours(inputs), $"head {headDim} heads {heads}/{kvHeads} tokens {first}..{first + tokens - 1} window {window} cap {softcap}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_scalar_path_gives_the_same_bits_as_the_vector_path(int headDim, int heads, int kvHeads, int tokens, int first, int window, float softcap)
    {
        var inputs = Inputs.Random(headDim, heads, kvHeads, tokens, first, window, softcap);
        var vector = Ours(inputs);
        bool saved = GgmlSums.UseVector512;
        GgmlSums.UseVector512 = false;
        try { AssertSameBits(vector, Ours(inputs), "scalar vs vector"); }
        finally { GgmlSums.UseVector512 = saved; }
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int differ = 0, firstAt = -1;
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i])) { differ++; if (firstAt < 0) firstAt = i; }
        Assert.True(differ == 0, $"{what}: {differ} of {expected.Length} outputs differ, first at {firstAt}: {(firstAt >= 0 ? $"{expected[firstAt]:R} vs {actual[firstAt]:R}" : "")}");
    }

    private sealed record Inputs(int HeadDim, int Heads, int KvHeads, int Tokens, int First, int Window, float Softcap, float Scale,
        float[] Q, float[] K, float[] V) // Q [tokens × heads × hd], K and V [cells × kvHeads × hd]
    {
        public static Inputs Random(int headDim, int heads, int kvHeads, int tokens, int first, int window, float softcap)
        {
            var rng = new DeterministicRandom((ulong)(headDim * 7919 + tokens * 31 + first + window));
            float[] Gaussian(int n, int filled)
            {
                var a = new float[n];
                for (int i = 0; i < filled; i++) a[i] = (float)rng.NextGaussian();
                return a;
            }
            int kvDim = kvHeads * headDim, context = first + tokens;
            // gemma-style (soft-capped) cases scale Q beforehand and use softmax scale 1, as llama.cpp's graph does.
            float scale = softcap > 0 ? 1f : 1f / MathF.Sqrt(headDim);
            var q = Gaussian(tokens * heads * headDim, tokens * heads * headDim);
            if (softcap > 0) for (int i = 0; i < q.Length; i++) q[i] *= 1f / MathF.Sqrt(headDim);
            // Cells past the context stay zero, as llama.cpp's cleared cache is.
            return new Inputs(headDim, heads, kvHeads, tokens, first, window, softcap, scale, q, Gaussian(Cells * kvDim, context * kvDim), Gaussian(Cells * kvDim, context * kvDim));
        }
    }

    private static float[] LlamaCppAttention(int headDim, int heads, int kvHeads, int tokens, int first, int window, float softcap, out Inputs inputs)
    {
        inputs = Inputs.Random(headDim, heads, kvHeads, tokens, first, window, softcap);
        int hd = headDim;
        var vt = new float[Cells * hd * kvHeads]; // [kvHeads][hd][cells]: llama.cpp's transposed V cache
        for (int p = 0; p < Cells; p++)
            for (int h = 0; h < kvHeads; h++)
                for (int d = 0; d < hd; d++) vt[(h * hd + d) * Cells + p] = inputs.V[(p * kvHeads + h) * hd + d];
        var mask = new float[Cells * tokens];
        for (int t = 0; t < tokens; t++)
            for (int p = 0; p < Cells; p++)
            {
                int pos = first + t;
                bool visible = p <= pos && (window == 0 || pos - p < window);
                mask[t * Cells + p] = visible ? 0f : float.NegativeInfinity;
            }

        using var g = new GgmlGraph(64L << 20);
        var q = g.Permute(g.Tensor3(hd, heads, tokens, inputs.Q), 0, 2, 1, 3);
        var k = g.Permute(g.Tensor3(hd, kvHeads, Cells, inputs.K), 0, 2, 1, 3);
        var kq = g.MulMat(k, q);
        if (softcap > 0) kq = g.Scale(g.Tanh(g.Scale(kq, 1f / softcap)), softcap);
        kq = g.SoftMaxExt(kq, g.Tensor3(Cells, tokens, 1, mask), inputs.Scale);
        var kqv = g.MulMat(g.Tensor3(Cells, hd, kvHeads, vt), kq); // [hd, tokens, heads]
        var raw = g.Compute(kqv, hd * tokens * heads);
        var result = new float[raw.Length]; // as ours: [tokens][heads][hd]
        for (int h = 0; h < heads; h++)
            for (int t = 0; t < tokens; t++)
                Array.Copy(raw, (h * tokens + t) * hd, result, (t * heads + h) * hd, hd);
        return result;
    }

    private static float[] Ours(Inputs x)
    {
        int hd = x.HeadDim, kvDim = x.KvHeads * hd, blockSize = 16;
        var blocks = Enumerable.Range(0, Cells / blockSize).ToArray();
        var output = new float[x.Tokens * x.Heads * hd];
        var scratch = new float[PagedAttention.ScratchLength(Cells, hd)];
        for (int t = 0; t < x.Tokens; t++)
            for (int h = 0; h < x.Heads; h++)
            {
                int context = x.First + t + 1;
                int from = x.Window > 0 ? Math.Max(0, context - x.Window) : 0;
                PagedAttention.AttendHead(x.Q.AsSpan((t * x.Heads + h) * hd, hd), x.K, x.V, kvDim, h / (x.Heads / x.KvHeads) * hd,
                    blocks, blockSize, from, context, x.Scale, x.Softcap, scratch, output.AsSpan((t * x.Heads + h) * hd, hd));
            }
        return output;
    }
}

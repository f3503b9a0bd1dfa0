using Actors.Inference.Compute;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>
/// One parameterised test per kernel family, comparing the device result with straightforward CPU
/// math (and ReferenceQuantizer for the ggml blocks) on random inputs: lengths of 1, odd lengths and
/// lengths beyond one block or one launch. Skipped with "no CUDA device: …" where there is none.
/// </summary>
[Collection("gpu")]
public class GpuOpTests
{
    private static int Cols(GgmlType type, int blocks) => GgmlTypeInfo.BlockSize(type) * blocks;

    public static TheoryData<GgmlType, int, int> EmbeddingCases()
    {
        var data = new TheoryData<GgmlType, int, int>();
        foreach (var type in Kernels.KernelNames.WeightTypes)
        foreach (var (tokens, blocks) in new[] { (1, 1), (3, 3), (17, 16) })
            data.Add(type, tokens, Cols(type, type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 ? blocks * 33 : blocks));
        return data;
    }

    [GpuTheory]
    [MemberData(nameof(EmbeddingCases))]
    public void Embedding_gathers_and_dequantizes_rows(GgmlType type, int tokens, int dim)
    {
        var rng = new Random(tokens * 31 + dim);
        const int rows = 50;
        var (bytes, values, rowBytes) = Reference.QuantizedMatrix(rng, type, rows, dim);
        var ids = Enumerable.Range(0, tokens).Select(_ => rng.Next(rows)).ToArray();
        if (tokens > 2) ids[1] = rows; // out of range: the kernel writes NaN rather than reading outside the table
        using var g = new DeviceScratch();
        var table = g.Upload(bytes);
        var idBuf = g.Upload(ids);
        var output = g.Alloc(4L * tokens * dim);
        g.Device.Kernels.Embedding(g.Stream, type, idBuf.Pointer, tokens, table.Pointer, rowBytes, rows, dim, output.Pointer);
        var actual = g.Download<float>(output, tokens * dim);
        var expected = new float[tokens * dim];
        for (int t = 0; t < tokens; t++)
        {
            var row = expected.AsSpan(t * dim, dim);
            if (ids[t] < rows) values.AsSpan(ids[t] * dim, dim).CopyTo(row);
            else row.Fill(float.NaN);
        }
        Reference.AssertClose(expected, actual, 1e-6, 1e-6, $"embedding {type}");
    }

    [GpuTheory]
    [InlineData(1, 1)]
    [InlineData(3, 33)]
    [InlineData(17, 4096)]
    [InlineData(2, 5120)]
    public void RmsNorm_scales_each_row_by_its_inverse_rms(int rows, int dim)
    {
        var rng = new Random(rows + dim);
        var x = Reference.RandomFloats(rng, rows * dim, 3f);
        var w = Reference.RandomFloats(rng, dim);
        using var g = new DeviceScratch();
        var xb = g.Upload(x);
        var wb = g.Upload(w);
        var ob = g.Alloc(4L * rows * dim);
        g.Device.Kernels.RmsNorm(g.Stream, xb.Pointer, wb.Pointer, ob.Pointer, rows, dim, 1e-5f);
        var expected = new float[rows * dim];
        for (int r = 0; r < rows; r++) Reference.RmsNorm(x.AsSpan(r * dim, dim), w, expected.AsSpan(r * dim, dim), 1e-5f);
        Reference.AssertClose(expected, g.Download<float>(ob, rows * dim), 1e-5, 1e-5, "rmsnorm");
    }

    public static TheoryData<string, int, int, int, int, int> RopeCases() => new()
    {
        // name, tokens, heads, kvHeads, headDim, nRot
        { "plain", 1, 4, 2, 16, 16 },
        { "plain", 5, 8, 8, 64, 64 },
        { "partial", 3, 4, 1, 64, 32 },
        { "linear", 7, 4, 2, 128, 128 },
        { "freq-factors", 4, 4, 2, 64, 64 },
        { "yarn", 6, 4, 4, 64, 64 },
    };

    [GpuTheory]
    [MemberData(nameof(RopeCases))]
    public void Rope_rotates_adjacent_pairs_of_queries_and_keys(string variant, int tokens, int heads, int kvHeads, int headDim, int nRot)
    {
        var rng = new Random(tokens * 7 + headDim);
        float[]? factors = variant == "freq-factors" ? Enumerable.Range(0, nRot / 2).Select(i => 1f + i % 5).ToArray() : null;
        float freqScale = variant is "linear" or "yarn" ? 0.25f : 1f;
        var rope = new RopeParameters(nRot, 10000f, variant == "yarn" ? RopeScalingType.Yarn : variant == "linear" ? RopeScalingType.Linear : RopeScalingType.None,
            freqScale, 4096, ExtFactor: variant == "yarn" ? 1f : 0f, AttnFactor: 1f, BetaFast: 32f, BetaSlow: 1f, FreqFactors: factors);
        var (corrLow, corrHigh) = rope.ExtFactor != 0 ? rope.CorrectionDims() : (0f, 0f);
        var q = Reference.RandomFloats(rng, tokens * heads * headDim);
        var k = Reference.RandomFloats(rng, tokens * kvHeads * headDim);
        var positions = Enumerable.Range(0, tokens).Select(i => i == 0 ? 0 : rng.Next(4096)).ToArray();
        using var g = new DeviceScratch();
        var qb = g.Upload(q);
        var kb = g.Upload(k);
        var pb = g.Upload(positions);
        var fb = factors != null ? g.Upload(factors) : null;
        g.Device.Kernels.Rope(g.Stream, qb.Pointer, kb.Pointer, pb.Pointer, fb?.Pointer ?? 0, tokens, heads, kvHeads, headDim, rope);
        var eq = (float[])q.Clone();
        var ek = (float[])k.Clone();
        for (int t = 0; t < tokens; t++)
        {
            for (int h = 0; h < heads; h++)
                Reference.Rope(eq.AsSpan((t * heads + h) * headDim, headDim), positions[t], nRot, 10000f, freqScale, factors, rope.ExtFactor, 1f, corrLow, corrHigh);
            for (int h = 0; h < kvHeads; h++)
                Reference.Rope(ek.AsSpan((t * kvHeads + h) * headDim, headDim), positions[t], nRot, 10000f, freqScale, factors, rope.ExtFactor, 1f, corrLow, corrHigh);
        }
        // Angles reach 4096 rad; float angle arithmetic is good to ~4096·6e-8 rad.
        Reference.AssertClose(eq, g.Download<float>(qb, q.Length), 2e-3, 1e-3, $"rope {variant} q");
        Reference.AssertClose(ek, g.Download<float>(kb, k.Length), 2e-3, 1e-3, $"rope {variant} k");
    }

    [GpuTheory]
    [InlineData(KvCacheType.F32, 1)]
    [InlineData(KvCacheType.F32, 33)]
    [InlineData(KvCacheType.F16, 7)]
    [InlineData(KvCacheType.F16, 33)]
    public void Kv_write_stores_each_token_at_its_slot(KvCacheType type, int tokens)
    {
        var rng = new Random(tokens);
        var kv = new KvCacheSpec(16, 8, 2, 32, type);
        int kvDim = kv.KvDim, slots = (int)kv.SlotCount;
        var slotOf = Enumerable.Range(0, slots).OrderBy(_ => rng.Next()).Take(tokens).ToArray();
        if (tokens > 1) slotOf[tokens / 2] = -1; // skipped
        var k = Reference.RandomFloats(rng, tokens * kvDim);
        var v = Reference.RandomFloats(rng, tokens * kvDim);
        using var g = new DeviceScratch();
        var kb = g.Upload(k);
        var vb = g.Upload(v);
        var sb = g.Upload(slotOf);
        var kc = g.Alloc((long)slots * kvDim * kv.ElementBytes);
        var vc = g.Alloc((long)slots * kvDim * kv.ElementBytes);
        g.Device.Kernels.KvWrite(g.Stream, type, kb.Pointer, vb.Pointer, sb.Pointer, kc.Pointer, vc.Pointer, tokens, kvDim);
        var ek = new float[slots * kvDim];
        var ev = new float[slots * kvDim];
        for (int t = 0; t < tokens; t++)
        {
            if (slotOf[t] < 0) continue;
            for (int j = 0; j < kvDim; j++)
            {
                ek[slotOf[t] * kvDim + j] = type == KvCacheType.F16 ? (float)(Half)k[t * kvDim + j] : k[t * kvDim + j];
                ev[slotOf[t] * kvDim + j] = type == KvCacheType.F16 ? (float)(Half)v[t * kvDim + j] : v[t * kvDim + j];
            }
        }
        float[] Read(Interop.Cuda.DeviceBuffer b) => type == KvCacheType.F32
            ? g.Download<float>(b, slots * kvDim)
            : g.Download<Half>(b, slots * kvDim).Select(h => (float)h).ToArray();
        Reference.AssertClose(ek, Read(kc), 0, 0, "K pool");
        Reference.AssertClose(ev, Read(vc), 0, 0, "V pool");
    }

    public static TheoryData<KvCacheType, int, int, int> AttentionCases()
    {
        var data = new TheoryData<KvCacheType, int, int, int>();
        foreach (var type in new[] { KvCacheType.F32, KvCacheType.F16 })
        foreach (var (heads, kvHeads, headDim) in new[] { (4, 2, 16), (4, 4, 64), (8, 2, 128), (2, 1, 256), (3, 3, 40) })
            data.Add(type, heads, kvHeads, headDim);
        return data;
    }

    /// <summary>
    /// One step mixing every case: a first decode token (context 1), a decode at context 37, a prefill
    /// chunk of 20 after 25 cached tokens, and a fresh 33-token prompt; the decode and prefill kernels
    /// run on their parts of the same batch.
    /// </summary>
    [GpuTheory]
    [MemberData(nameof(AttentionCases))]
    public void Paged_attention_matches_softmax_attention_for_decode_and_prefill(KvCacheType type, int heads, int kvHeads, int headDim)
    {
        var rng = new Random(heads * 1000 + headDim);
        var kv = new KvCacheSpec(16, 24, kvHeads, headDim, type);
        var batch = Reference.Batch(rng, kv, newTokens: [1, 1, 20, 33], contexts: [1, 37, 45, 33], vocab: 1);
        int tokens = batch.TokenCount, kvDim = kv.KvDim, slots = (int)kv.SlotCount;
        var kPool = Reference.RandomFloats(rng, slots * kvDim);
        var vPool = Reference.RandomFloats(rng, slots * kvDim);
        if (type == KvCacheType.F16)
            for (int i = 0; i < kPool.Length; i++) { kPool[i] = (float)(Half)kPool[i]; vPool[i] = (float)(Half)vPool[i]; }
        var q = Reference.RandomFloats(rng, tokens * heads * headDim, 2f);
        var plan = new Kernels.AttentionPlan();
        plan.Build(batch);

        using var g = new DeviceScratch();
        var kc = type == KvCacheType.F32 ? g.Upload(kPool) : g.Upload(kPool.Select(f => (Half)f).ToArray());
        var vc = type == KvCacheType.F32 ? g.Upload(vPool) : g.Upload(vPool.Select(f => (Half)f).ToArray());
        var qb = g.Upload(q);
        var output = g.Alloc(4L * tokens * heads * headDim);
        var p = new Kernels.AttentionParams
        {
            Q = qb.Pointer, KCache = kc.Pointer, VCache = vc.Pointer, Out = output.Pointer,
            BlockTables = g.Upload(batch.BlockTables[..(batch.SequenceCount * batch.BlockTableWidth)]).Pointer,
            Positions = g.Upload(batch.Positions[..tokens]).Pointer,
            SeqTokenEnd = g.Upload(plan.SeqTokenEnd[..batch.SequenceCount]).Pointer,
            NHeads = heads, NKvHeads = kvHeads, HeadDim = headDim, BlockSize = kv.BlockSize,
            BlockTableWidth = batch.BlockTableWidth, Scale = 1f / MathF.Sqrt(headDim),
        };
        Assert.Equal(2, plan.DecodeCount);
        Assert.Equal(2 + 3, plan.TileCount);
        p.WorkSeq = g.Upload(plan.DecodeSeq[..plan.DecodeCount]).Pointer;
        p.WorkToken = g.Upload(plan.DecodeToken[..plan.DecodeCount]).Pointer;
        p.NWork = plan.DecodeCount;
        g.Device.Kernels.AttentionDecode(g.Stream, type, p);
        p.WorkSeq = g.Upload(plan.TileSeq[..plan.TileCount]).Pointer;
        p.WorkToken = g.Upload(plan.TileToken[..plan.TileCount]).Pointer;
        p.NWork = plan.TileCount;
        g.Device.Kernels.AttentionPrefill(g.Stream, type, p);

        var expected = new float[tokens * heads * headDim];
        for (int s = 0; s < batch.SequenceCount; s++)
        for (int t = batch.QueryStart[s]; t < batch.QueryStart[s + 1]; t++)
        for (int h = 0; h < heads; h++)
        {
            int o = (t * heads + h) * headDim;
            Reference.Attention(q.AsSpan(o, headDim), kPool, vPool, batch.BlockTable(s), kv.BlockSize, kvHeads, headDim,
                h / (heads / kvHeads), batch.Positions[t], expected.AsSpan(o, headDim));
        }
        Reference.AssertClose(expected, g.Download<float>(output, expected.Length), 2e-5, 1e-4, $"attention {type} h{heads}/{kvHeads} d{headDim}");
    }

    public static TheoryData<GgmlType, int, int, int> MatvecCases()
    {
        var data = new TheoryData<GgmlType, int, int, int>();
        foreach (var type in Kernels.KernelNames.WeightTypes)
        {
            bool isFloat = type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16;
            int[] colChoices = isFloat ? [1, 33, 4096] : [Cols(type, 1), Cols(type, 3), 4096];
            foreach (int cols in colChoices)
            foreach (var (rows, tokens) in new[] { (1, 1), (7, 3), (129, 11) })
                data.Add(type, rows, cols, tokens);
        }
        return data;
    }

    [GpuTheory]
    [MemberData(nameof(MatvecCases))]
    public void Matvec_multiplies_ggml_blocks_by_each_token(GgmlType type, int rows, int cols, int tokens)
    {
        var rng = new Random(rows * 13 + cols + tokens);
        var (bytes, w, rowBytes) = Reference.QuantizedMatrix(rng, type, rows, cols);
        var x = Reference.RandomFloats(rng, tokens * cols);
        using var g = new DeviceScratch();
        var wb = g.Upload(bytes);
        var xb = g.Upload(x);
        var yb = g.Alloc(4L * tokens * rows);
        g.Device.Kernels.Matvec(g.Stream, type, wb.Pointer, rowBytes, rows, cols, xb.Pointer, yb.Pointer, tokens);
        var actual = g.Download<float>(yb, tokens * rows);
        for (int t = 0; t < tokens; t++)
        for (int r = 0; r < rows; r++)
        {
            double dot = 0, magnitude = 0;
            for (int k = 0; k < cols; k++)
            {
                double term = (double)w[(long)r * cols + k] * x[t * cols + k];
                dot += term;
                magnitude += Math.Abs(term);
            }
            double a = actual[t * rows + r];
            Assert.True(Math.Abs(a - dot) <= 1e-5 * magnitude + 1e-6, $"matvec {type} y[{t},{r}] = {a}, expected {dot}");
        }
    }

    public static TheoryData<GgmlType, int, int> DequantCases()
    {
        var data = new TheoryData<GgmlType, int, int>();
        foreach (var type in Kernels.KernelNames.WeightTypes.Where(t => t != GgmlType.F16))
        foreach (var (rows, blocks) in new[] { (1, 1), (5, 3), (3, 16) })
            data.Add(type, rows, Cols(type, type is GgmlType.F32 or GgmlType.BF16 ? blocks * 33 : blocks));
        return data;
    }

    [GpuTheory]
    [MemberData(nameof(DequantCases))]
    public void Dequantize_to_f16_rounds_each_decoded_value(GgmlType type, int rows, int cols)
    {
        var rng = new Random(rows * 3 + cols);
        var (bytes, values, rowBytes) = Reference.QuantizedMatrix(rng, type, rows, cols);
        using var g = new DeviceScratch();
        var src = g.Upload(bytes);
        var output = g.Alloc(2L * rows * cols);
        g.Device.Kernels.DequantToF16(g.Stream, type, src.Pointer, rowBytes, rows, cols, output.Pointer);
        var actual = g.Download<Half>(output, rows * cols).Select(h => (float)h).ToArray();
        var expected = values.Select(v => (float)(Half)v).ToArray();
        // One f16 ulp (2^-10 relative) allows for a fused multiply-add on the device.
        Reference.AssertClose(expected, actual, 1e-7, 1.0 / 1024, $"dequant {type}");
    }

    [GpuTheory]
    [InlineData(1)]
    [InlineData(1001)]
    [InlineData(70_001)]
    public void Silu_mul_is_silu_of_gate_times_up(int n)
    {
        var rng = new Random(n);
        var gate = Reference.RandomFloats(rng, n, 8f);
        var up = Reference.RandomFloats(rng, n, 2f);
        using var g = new DeviceScratch();
        var gb = g.Upload(gate);
        var ub = g.Upload(up);
        var ob = g.Alloc(4L * n);
        g.Device.Kernels.SiluMul(g.Stream, gb.Pointer, ub.Pointer, ob.Pointer, n);
        var expected = gate.Select((x, i) => (float)(x / (1 + Math.Exp(-x)) * up[i])).ToArray();
        Reference.AssertClose(expected, g.Download<float>(ob, n), 1e-6, 1e-5, "silu_mul");
    }

    [GpuTheory]
    [InlineData(1)]
    [InlineData(1001)]
    [InlineData(17_000_001)] // more than 65535 blocks of 256: exercises the grid-stride loop
    public void Residual_add_adds_in_place(int n)
    {
        var rng = new Random(n);
        var x = Reference.RandomFloats(rng, n);
        var y = Reference.RandomFloats(rng, n);
        using var g = new DeviceScratch();
        var xb = g.Upload(x);
        var yb = g.Upload(y);
        g.Device.Kernels.ResidualAdd(g.Stream, xb.Pointer, yb.Pointer, n);
        var expected = x.Select((v, i) => v + y[i]).ToArray();
        Reference.AssertClose(expected, g.Download<float>(xb, n), 0, 0, "residual_add");
    }

    [GpuTheory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 1000, 1)]
    [InlineData(2, 32000, 1)]
    [InlineData(3, 1000, 5)]
    [InlineData(2, 32000, 40)]
    [InlineData(1, 7, 7)]
    public void Argmax_and_top_k_pick_the_largest_logits_ties_to_the_smaller_id(int rows, int cols, int k)
    {
        var rng = new Random(rows * cols + k);
        var logits = Reference.RandomFloats(rng, rows * cols, 10f);
        for (int r = 0; r < rows && cols > 10; r++)
        {
            float top = logits.AsSpan(r * cols, cols).ToArray().Max();
            logits[r * cols + 3] = top;              // a tie for first place: id 3 must win over the later one
            logits[r * cols + cols - 1] = top;
            logits[r * cols + 6] = float.NegativeInfinity;
        }
        var (indices, values) = DeviceTopK(logits, rows, cols, k);
        for (int r = 0; r < rows; r++)
        {
            var row = logits.AsSpan(r * cols, cols);
            var expected = Reference.TopK(row, k);
            Assert.Equal(expected, indices.AsSpan(r * k, k).ToArray());
            for (int i = 0; i < k; i++) Assert.Equal(row[expected[i]], values[r * k + i]);
        }
    }

    /// <summary>
    /// A row holding NaN reports its first NaN in every slot and +inf ranks first otherwise, exactly as the CPU's
    /// LogitTopK: the last stage's top-k of either backend leads the runtime to the same rejection.
    /// </summary>
    [GpuTheory]
    [InlineData(4099, 1)]
    [InlineData(4099, 5)]
    [InlineData(4099, 64)] // the largest k a CUDA stage takes
    [InlineData(7, 7)]
    public void Argmax_and_top_k_report_rows_with_NaN_and_infinities_as_the_cpu_top_k_does(int cols, int k)
    {
        var logits = TopKRows.Build(new Random(cols + 7 * k), cols);
        var (indices, values) = DeviceTopK(logits, logits.Length / cols, cols, k);
        TopKRows.AssertSameAsCpu(logits, cols, k, indices, values, "CUDA");
    }

    /// <summary>The argmax kernel for k = 1, the top-k kernel otherwise, on the rows of <paramref name="logits"/>.</summary>
    private static (int[] Indices, float[] Values) DeviceTopK(float[] logits, int rows, int cols, int k)
    {
        using var g = new DeviceScratch();
        var lb = g.Upload(logits);
        var ib = g.Alloc(4L * rows * k);
        var vb = g.Alloc(4L * rows * k);
        if (k == 1) g.Device.Kernels.Argmax(g.Stream, lb.Pointer, rows, cols, ib.Pointer, vb.Pointer);
        else g.Device.Kernels.TopK(g.Stream, lb.Pointer, rows, cols, k, ib.Pointer, vb.Pointer);
        return (g.Download<int>(ib, rows * k), g.Download<float>(vb, rows * k));
    }
}

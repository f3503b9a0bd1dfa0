using Actors.Inference.Compute;
using Actors.Inference.Gguf;
using Actors.Inference.Quantization;
using Actors.Interop.Cuda;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>Device buffers and a stream for one GPU test, freed together.</summary>
internal sealed class DeviceScratch : IDisposable
{
    private readonly List<DeviceBuffer> _buffers = new();

    public CudaDevice Device { get; } = TestEnvironment.Device;
    public CudaStream Stream { get; }

    public DeviceScratch()
    {
        Device.Context.MakeCurrent();
        Stream = CudaStream.Create(Device.Context);
    }

    public DeviceBuffer Alloc(long bytes, byte fill = 0)
    {
        var b = DeviceBuffer.Allocate(Device.Context, Math.Max(1, bytes));
        b.Fill(fill, Stream);
        _buffers.Add(b);
        return b;
    }

    public DeviceBuffer Upload<T>(T[] data) where T : unmanaged
    {
        var b = Alloc((long)data.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        b.Upload<T>(data, Stream);
        return b;
    }

    public T[] Download<T>(DeviceBuffer buffer, int count) where T : unmanaged
    {
        Stream.Synchronize(); // surfaces launch errors here, with the kernel still named in the stack
        var result = new T[count];
        buffer.Download<T>(result, Stream);
        return result;
    }

    public void Dispose()
    {
        Stream.Synchronize();
        foreach (var b in _buffers) b.Dispose();
        Stream.Dispose();
    }
}

internal static class Reference
{
    public static float[] RandomFloats(Random rng, int count, float scale = 1f)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return values;
    }

    /// <summary>Rows of random values quantised to <paramref name="type"/>: (bytes [rows, rowBytes], decoded values [rows, cols]).</summary>
    public static (byte[] Bytes, float[] Values, int RowBytes) QuantizedMatrix(Random rng, GgmlType type, int rows, int cols)
    {
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var bytes = new byte[(long)rows * rowBytes];
        var values = new float[(long)rows * cols];
        // Types without an encoder here (Q5_K, IQ4_XS, ...): every bit random except sane f16 scales.
        bool encode = ReferenceQuantizer.CanQuantize(type);
        if (!encode) RandomBlocks.Fill(type, bytes, (ulong)rng.NextInt64());
        for (int r = 0; r < rows; r++)
        {
            if (encode) ReferenceQuantizer.Quantize(type, RandomFloats(rng, cols), bytes.AsSpan(r * rowBytes, rowBytes));
            ReferenceQuantizer.Dequantize(type, bytes.AsSpan(r * rowBytes, rowBytes), values.AsSpan(r * cols, cols));
        }
        return (bytes, values, rowBytes);
    }

    /// <summary>|a−e| ≤ atol + rtol·|e| everywhere; the failure names the first bad index.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) && double.IsNaN(a)) continue;
            if (!(Math.Abs(a - e) <= atol + rtol * Math.Abs(e)))
                Assert.Fail($"{what}: index {i} is {a}, expected {e} (tolerance {atol} + {rtol}·|e|)");
        }
    }

    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> output, float eps)
    {
        double ss = 0;
        foreach (float v in x) ss += (double)v * v;
        float inv = (float)(1.0 / Math.Sqrt(ss / x.Length + eps));
        for (int i = 0; i < x.Length; i++) output[i] = x[i] * inv * w[i];
    }

    /// <summary>ggml's rope_yarn in NORM mode on one head (pairs (2i, 2i+1), i &lt; nRot/2).</summary>
    public static void Rope(Span<float> head, int pos, int nRot, float freqBase, float freqScale, float[]? freqFactors,
        float extFactor, float attnFactor, float corrLow, float corrHigh)
    {
        for (int i = 0; i < nRot / 2; i++)
        {
            double thetaExtrap = pos * Math.Pow(freqBase, -2.0 * i / nRot);
            if (freqFactors != null) thetaExtrap /= freqFactors[i];
            double thetaInterp = freqScale * thetaExtrap, theta = thetaInterp, mscale = attnFactor;
            if (extFactor != 0)
            {
                double y = (i - corrLow) / Math.Max(0.001, corrHigh - corrLow);
                double ramp = (1 - Math.Min(1, Math.Max(0, y))) * extFactor;
                theta = thetaInterp * (1 - ramp) + thetaExtrap * ramp;
                mscale *= 1 + 0.1 * Math.Log(1 / freqScale);
            }
            double c = Math.Cos(theta) * mscale, s = Math.Sin(theta) * mscale;
            double x0 = head[2 * i], x1 = head[2 * i + 1];
            head[2 * i] = (float)(x0 * c - x1 * s);
            head[2 * i + 1] = (float)(x0 * s + x1 * c);
        }
    }

    /// <summary>Causal attention of one query head over keys 0..pos read from a slot-major pool through a block table.</summary>
    public static void Attention(ReadOnlySpan<float> q, float[] kPool, float[] vPool, ReadOnlySpan<int> table, int blockSize,
        int kvHeads, int headDim, int kvHead, int pos, Span<float> output)
    {
        int kvDim = kvHeads * headDim;
        var scores = new double[pos + 1];
        double max = double.NegativeInfinity, scale = 1 / Math.Sqrt(headDim);
        for (int j = 0; j <= pos; j++)
        {
            long b = ((long)table[j / blockSize] * blockSize + j % blockSize) * kvDim + kvHead * headDim;
            double dot = 0;
            for (int d = 0; d < headDim; d++) dot += q[d] * kPool[b + d];
            scores[j] = dot * scale;
            max = Math.Max(max, scores[j]);
        }
        double sum = 0;
        for (int j = 0; j <= pos; j++) sum += scores[j] = Math.Exp(scores[j] - max);
        var acc = new double[headDim];
        for (int j = 0; j <= pos; j++)
        {
            long b = ((long)table[j / blockSize] * blockSize + j % blockSize) * kvDim + kvHead * headDim;
            for (int d = 0; d < headDim; d++) acc[d] += scores[j] / sum * vPool[b + d];
        }
        for (int d = 0; d < headDim; d++) output[d] = (float)acc[d];
    }

    /// <summary>Indices of the k best values of a row without NaN, larger first, ties to the smaller index.</summary>
    public static int[] TopK(ReadOnlySpan<float> row, int k)
    {
        var values = row.ToArray();
        Assert.DoesNotContain(values, float.IsNaN); // a row with NaN reports its first NaN (TopKRows compares those with the CPU)
        return Enumerable.Range(0, values.Length).OrderByDescending(i => values[i]).ThenBy(i => i).Take(k).ToArray();
    }

    /// <summary>
    /// A valid step batch: sequence s computes <paramref name="newTokens"/>[s] tokens ending at context
    /// <paramref name="contexts"/>[s], its blocks (enough for <paramref name="reserve"/>[s] tokens, so later
    /// steps can grow) drawn without repetition from a shuffled pool.
    /// </summary>
    public static StepBatch Batch(Random rng, KvCacheSpec kv, int[] newTokens, int[] contexts, int vocab, int[]? reserve = null, bool allLogits = false)
    {
        int seqs = newTokens.Length, total = newTokens.Sum();
        reserve ??= contexts;
        int width = reserve.Max(c => (c + kv.BlockSize - 1) / kv.BlockSize);
        var batch = new StepBatch();
        batch.EnsureCapacity(total, seqs, width);
        var free = Enumerable.Range(0, kv.NumBlocks).OrderBy(_ => rng.Next()).ToList();
        Assert.True(free.Count >= reserve.Sum(c => (c + kv.BlockSize - 1) / kv.BlockSize), "test KV pool too small");
        int t = 0, logits = 0;
        for (int s = 0; s < seqs; s++)
        {
            int blocks = (Math.Max(contexts[s], reserve[s]) + kv.BlockSize - 1) / kv.BlockSize;
            for (int b = 0; b < blocks; b++)
            {
                batch.BlockTables[s * width + b] = free[0];
                free.RemoveAt(0);
            }
            batch.QueryStart[s] = t;
            batch.ContextLength[s] = contexts[s];
            for (int i = 0; i < newTokens[s]; i++, t++)
            {
                int pos = contexts[s] - newTokens[s] + i;
                batch.Tokens[t] = rng.Next(vocab);
                batch.Positions[t] = pos;
                batch.Slots[t] = batch.BlockTables[s * width + pos / kv.BlockSize] * kv.BlockSize + pos % kv.BlockSize;
                if (allLogits || i == newTokens[s] - 1) batch.LogitTokens[logits++] = t;
            }
        }
        batch.QueryStart[seqs] = t;
        batch.TokenCount = total;
        batch.SequenceCount = seqs;
        batch.LogitCount = logits;
        batch.Validate(kv, vocab);
        return batch;
    }

    /// <summary>A follow-up step for the same sequences (same block tables), growing each by <paramref name="newTokens"/>.</summary>
    public static StepBatch Continue(StepBatch previous, KvCacheSpec kv, int[] newTokens, int vocab, Random rng)
    {
        int seqs = previous.SequenceCount, width = previous.BlockTableWidth, total = newTokens.Sum();
        var batch = new StepBatch();
        batch.EnsureCapacity(total, seqs, width);
        Array.Copy(previous.BlockTables, batch.BlockTables, seqs * width);
        int t = 0, logits = 0;
        for (int s = 0; s < seqs; s++)
        {
            int context = previous.ContextLength[s] + newTokens[s];
            batch.QueryStart[s] = t;
            batch.ContextLength[s] = context;
            for (int i = 0; i < newTokens[s]; i++, t++)
            {
                int pos = context - newTokens[s] + i;
                batch.Tokens[t] = rng.Next(vocab);
                batch.Positions[t] = pos;
                batch.Slots[t] = batch.BlockTables[s * width + pos / kv.BlockSize] * kv.BlockSize + pos % kv.BlockSize;
                if (i == newTokens[s] - 1) batch.LogitTokens[logits++] = t;
            }
        }
        batch.QueryStart[seqs] = t;
        batch.TokenCount = total;
        batch.SequenceCount = seqs;
        batch.LogitCount = logits;
        batch.Validate(kv, vocab);
        return batch;
    }
}

using System.Diagnostics;
using Actors.Inference.Cpu;
using Actors.Inference.Cpu.Ops;
using Actors.Inference.Synthetic;
using Actors.Simulation.Cost;

namespace Actors.Cli.Validate;

/// <summary>
/// Rates of the CPU backend's work besides matmuls, measured with its own operations on its own
/// worker pool, on a generic Llama-7B-like layer (4096 wide, 32 query and 8 KV heads of 128, MLP
/// 11008) rather than on the validation models. Each is the best of several tries, and each is
/// expressed in the units the cost model charges (<see cref="LayerTraffic"/>), so it can be applied
/// to any shape.
/// </summary>
public static class OpProbe
{
    private const int Dim = 4096, Heads = 32, KvHeads = 8, HeadDim = 128, Ffn = 11008, BlockSize = 16;

    /// <summary>
    /// The attention kernel (<see cref="PagedAttention.AttendHead"/>), FLOP/s as 4·head_dim per query-key
    /// pair per head: <paramref name="sequences"/> sequences each decoding one token at
    /// <paramref name="context"/>, through paged block tables, (token, head) pairs over the pool as the
    /// backend splits them. The K/V pool (4 MiB at context 128) stays in cache; the cost model adds the
    /// DRAM read as a roofline.
    /// </summary>
    public static double AttentionFlops(int threads, int context, int sequences = 4, double seconds = 0.3, int tries = 3)
    {
        int kvDim = KvHeads * HeadDim, qDim = Heads * HeadDim, perSeq = (context + BlockSize - 1) / BlockSize;
        var rng = new DeterministicRandom(5);
        var kc = new float[sequences * perSeq * BlockSize * kvDim];
        var vc = new float[kc.Length];
        for (int i = 0; i < kc.Length; i++) { kc[i] = (float)rng.NextGaussian(); vc[i] = (float)rng.NextGaussian(); }
        var q = new float[sequences * qDim];
        for (int i = 0; i < q.Length; i++) q[i] = (float)rng.NextGaussian();
        var blocks = Enumerable.Range(0, sequences * perSeq).ToArray();
        var output = new float[q.Length];
        float scale = 1 / MathF.Sqrt(HeadDim);
        var work = new Work(sequences * Heads, index =>
        {
            int s = index / Heads, h = index % Heads;
            var scores = t_scores ??= new float[PagedAttention.ScratchLength(context, HeadDim)];
            PagedAttention.AttendHead(q.AsSpan(s * qDim + h * HeadDim, HeadDim), kc, vc, kvDim, h / (Heads / KvHeads) * HeadDim,
                blocks.AsSpan(s * perSeq, perSeq), BlockSize, 0, context, scale, 0f, scores, output.AsSpan(s * qDim + h * HeadDim, HeadDim));
        });
        return LayerTraffic.AttentionFlops((double)sequences * context, qDim, 1) / BestSeconds(threads, work, seconds, tries);
    }

    [ThreadStatic] private static float[]? t_scores;

    /// <summary>
    /// The elementwise operations of one layer for <paramref name="tokens"/> tokens (two RMS norms, RoPE
    /// on q and k, SiLU·up, two residual adds, as the backend runs them), bytes of activation traffic
    /// per second as <see cref="LayerTraffic.ElementwiseBytes"/> counts them.
    /// </summary>
    public static double ElementwiseBandwidth(int threads, int tokens = 16, double seconds = 0.3, int tries = 3)
    {
        int qDim = Heads * HeadDim, kvDim = KvHeads * HeadDim, half = HeadDim / 2;
        var rng = new DeterministicRandom(6);
        float[] Gaussian(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)rng.NextGaussian(); return a; }
        float[] x = Gaussian(tokens * Dim), xb = new float[tokens * Dim], proj = Gaussian(tokens * Dim), norm = Gaussian(Dim);
        float[] q = Gaussian(tokens * qDim), k = Gaussian(tokens * kvDim);
        float[] gate = Gaussian(tokens * Ffn), up = Gaussian(tokens * Ffn);
        float[] cos = Gaussian(tokens * half), sin = Gaussian(tokens * half);
        // One token's whole elementwise share of a layer per chunk; values are kept bounded so
        // repetition does not drift into infinities (which run at a different speed).
        var work = new Work(tokens, t =>
        {
            var xt = x.AsSpan(t * Dim, Dim);
            RmsNorm.Apply(xt, norm, 1e-5f, xb.AsSpan(t * Dim, Dim));
            Rope.Apply(q.AsSpan(t * qDim, qDim), Heads, HeadDim, cos.AsSpan(t * half, half), sin.AsSpan(t * half, half));
            Rope.Apply(k.AsSpan(t * kvDim, kvDim), KvHeads, HeadDim, cos.AsSpan(t * half, half), sin.AsSpan(t * half, half));
            System.Numerics.Tensors.TensorPrimitives.Add(xt, proj.AsSpan(t * Dim, Dim), xt);
            RmsNorm.Apply(xt, norm, 1e-5f, xb.AsSpan(t * Dim, Dim));
            SwiGlu.ApplyInPlace(gate.AsSpan(t * Ffn, Ffn), up.AsSpan(t * Ffn, Ffn));
            System.Numerics.Tensors.TensorPrimitives.Subtract(xt, proj.AsSpan(t * Dim, Dim), xt); // the second residual add, undoing the first
        }, refresh: () => { gate.AsSpan().Fill(0.5f); });
        return LayerTraffic.ElementwiseBytes(tokens, Dim, qDim, kvDim, Ffn, 1, 4) / BestSeconds(threads, work, seconds, tries);
    }

    /// <summary>
    /// Fixed cost of one parallel operation: an empty run of the worker pool with eight chunks per
    /// thread (its fork and join; with one thread, only the calls), seconds.
    /// </summary>
    public static double DispatchSeconds(int threads, double seconds = 0.2, int tries = 3)
        => BestSeconds(threads, new Work(threads * 8, _ => { }), seconds, tries);

    /// <summary>Best seconds of one <see cref="CpuWorkerPool.Run"/> of <paramref name="work"/>, over repeated runs for about <paramref name="seconds"/>, best of <paramref name="tries"/> after a warm-up.</summary>
    private static double BestSeconds(int threads, Work work, double seconds, int tries)
    {
        using var pool = new CpuWorkerPool(threads, "probe");
        double best = double.MaxValue;
        for (int t = 0; t < tries + 1; t++)
        {
            long runs = 0, t0 = Stopwatch.GetTimestamp(), deadline = t0 + (long)(seconds * Stopwatch.Frequency);
            double spent = 0;
            do
            {
                work.Refresh?.Invoke();
                long r0 = Stopwatch.GetTimestamp();
                pool.Run(work.Count, work);
                spent += Stopwatch.GetElapsedTime(r0).TotalSeconds;
                runs++;
            } while (Stopwatch.GetTimestamp() < deadline);
            if (t > 0) best = Math.Min(best, spent / runs);
        }
        return best;
    }

    private sealed class Work(int count, Action<int> body, Action? refresh = null) : IParallelWork
    {
        public int Count => count;
        public Action? Refresh => refresh;
        public void Execute(int index) => body(index);
    }
}

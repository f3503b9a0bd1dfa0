using Actors.Inference.Sampling;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>
/// Logit rows for comparing the device's argmax/top-k (kernels/sampling.cu) with the CPU's <see cref="LogitTopK"/>:
/// random non-zero logits, each row with one kind of trouble at random positions.
/// </summary>
internal static class TopKRows
{
    /// <summary>What row r of <see cref="Build"/> holds.</summary>
    public static readonly string[] Kinds =
    [
        "a tie for first place",
        "one NaN",
        "two NaNs after a +inf",
        "two +infs",
        "a few -infs",
        "nothing but -inf",
        "nothing but NaN",
        "NaN in its first and last place",
    ];

    /// <summary>Random logits in ±[1, 11) (never zero), never repeating except where a row's kind says.</summary>
    public static float RandomLogit(Random rng) => (rng.Next(2) == 0 ? -1f : 1f) * (1f + 10f * (float)rng.NextDouble());

    /// <summary>[Kinds.Length, cols] rows (cols ≥ 4) of the kinds above, in that order.</summary>
    public static float[] Build(Random rng, int cols)
    {
        var logits = new float[Kinds.Length * cols];
        for (int i = 0; i < logits.Length; i++) logits[i] = RandomLogit(rng);
        Span<float> Row(int r) => logits.AsSpan(r * cols, cols);
        // Two distinct random positions, a before b.
        (int A, int B) Two()
        {
            int a = rng.Next(cols), b = rng.Next(cols - 1);
            if (b >= a) b++;
            return (Math.Min(a, b), Math.Max(a, b));
        }

        var (t0, t1) = Two();
        Row(0)[t0] = Row(0)[t1] = 12f;
        Row(1)[rng.Next(cols)] = float.NaN;
        int n0 = 1 + rng.Next(cols - 2), n1 = n0 + 1 + rng.Next(cols - 1 - n0);
        Row(2)[n0] = Row(2)[n1] = float.NaN;
        Row(2)[rng.Next(n0)] = float.PositiveInfinity; // before the first NaN: the whole-row sampler would name it, top-k names the NaN
        var (i0, i1) = Two();
        Row(3)[i0] = Row(3)[i1] = float.PositiveInfinity;
        for (int j = 0; j < 3; j++) Row(4)[rng.Next(cols)] = float.NegativeInfinity;
        Row(5).Fill(float.NegativeInfinity);
        Row(6).Fill(float.NaN);
        Row(7)[0] = Row(7)[cols - 1] = float.NaN;
        return logits;
    }

    /// <summary>
    /// Row r's device top-k equals <see cref="LogitTopK.Select"/>'s on the same row: the same ids in the same
    /// order and the same values (NaN for NaN).
    /// </summary>
    public static void AssertSameAsCpu(float[] logits, int cols, int k, int[] indices, float[] values, string what)
    {
        int rows = logits.Length / cols;
        var expectedIndices = new int[k];
        var expectedValues = new float[k];
        for (int r = 0; r < rows; r++)
        {
            LogitTopK.Select(logits.AsSpan(r * cols, cols), k, expectedIndices, expectedValues);
            string row = $"{what}, row {r} ({(r < Kinds.Length ? Kinds[r] : "random")}), k = {k}";
            Assert.True(expectedIndices.AsSpan().SequenceEqual(indices.AsSpan(r * k, k)),
                $"{row}: ids [{string.Join(", ", indices.AsSpan(r * k, k).ToArray())}], the CPU's [{string.Join(", ", expectedIndices)}]");
            for (int i = 0; i < k; i++)
            {
                float e = expectedValues[i], a = values[r * k + i];
                Assert.True(float.IsNaN(e) ? float.IsNaN(a) : e.Equals(a), $"{row}: value {i} is {a}, the CPU's {e}");
            }
        }
    }
}

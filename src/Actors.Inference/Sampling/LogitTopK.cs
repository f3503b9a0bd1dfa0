using System.Numerics;
using System.Numerics.Tensors;

namespace Actors.Inference.Sampling;

/// <summary>
/// The k largest logits of a row, best first, equal values to the smaller id: what a last stage returns
/// instead of the whole row when every sequence of a step is decided by its top-k (greedy decoding: k = 1).
/// k = 1 is the sampler's own greedy pick (the first maximum), so both paths choose the same token. A row
/// holding NaN reports (its first NaN, NaN) first, so the caller rejects it as the sampler rejects such logits.
/// </summary>
public static class LogitTopK
{
    /// <summary>
    /// Fills <paramref name="indices"/>[0..k) and <paramref name="values"/>[0..k) from <paramref name="row"/>
    /// (k ≤ row length). One vectorised pass for the maximum (which also finds NaN); for k &gt; 1 a scan that
    /// skips whole vectors below the current k-th best, inserting the rare survivors into the sorted k.
    /// Allocates nothing.
    /// </summary>
    public static void Select(ReadOnlySpan<float> row, int k, Span<int> indices, Span<float> values)
    {
        if (k < 1 || k > row.Length) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in 1..{row.Length} (the row's length)");
        if (indices.Length < k || values.Length < k) throw new ArgumentException($"indices and values need {k} entries each");
        float max = TensorPrimitives.Max(row);
        if (float.IsNaN(max))
        {
            int nan = row.IndexOf(float.NaN); // float.Equals: NaN equals NaN
            indices[..k].Fill(nan);
            values[..k].Fill(float.NaN);
            return;
        }
        if (k == 1)
        {
            indices[0] = row.IndexOf(max); // the first maximum: ties to the smaller id, as the sampler's greedy pick
            values[0] = max;
            return;
        }
        int count = 0, i = 0, width = Vector<float>.Count;
        // Until k are kept every value enters; then a vector with no value above the k-th best is skipped whole.
        for (; i < row.Length && count < k; i++) Insert(row[i], i, k, ref count, indices, values);
        for (; i + width <= row.Length; i += width)
        {
            var chunk = new Vector<float>(row.Slice(i, width));
            if (!Vector.GreaterThanAny(chunk, new Vector<float>(values[k - 1]))) continue;
            for (int j = 0; j < width; j++)
                if (row[i + j] > values[k - 1]) Insert(row[i + j], i + j, k, ref count, indices, values);
        }
        for (; i < row.Length; i++)
            if (row[i] > values[k - 1]) Insert(row[i], i, k, ref count, indices, values);
    }

    /// <summary>
    /// Inserts (value, id) into the sorted first <paramref name="count"/> entries, dropping the k-th when full. Ids
    /// arrive in increasing order, so an equal value already kept has the smaller id and stays ahead.
    /// </summary>
    private static void Insert(float value, int id, int k, ref int count, Span<int> indices, Span<float> values)
    {
        int p = count < k ? count : k - 1;
        while (p > 0 && value > values[p - 1])
        {
            values[p] = values[p - 1];
            indices[p] = indices[p - 1];
            p--;
        }
        values[p] = value;
        indices[p] = id;
        if (count < k) count++;
    }
}

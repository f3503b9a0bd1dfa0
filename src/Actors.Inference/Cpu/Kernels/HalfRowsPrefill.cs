using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// F16 weights for many tokens: each chunk of rows is converted to f32 once and the f32 kernels run every
/// token tile over it. The F16 tiles otherwise widen and convert every weight vector again for each
/// 6-token tile (and track max |w| for the inf/NaN fallback), which costs about as many instructions as
/// the tile's FMAs. The conversion is exact, and the f32 kernels run the same generic code in the same
/// order as the F16 ones (whose inf/NaN fallback also converts exactly), so every (row, token) result is
/// bit-identical to the F16 kernels': batch invariance and decode/prefill agreement hold.
/// </summary>
internal static class HalfRowsPrefill
{
    /// <summary>f32 bytes per converted chunk: stays in L2 while every token tile runs over it.</summary>
    private const int ChunkBytes = 192 * 1024;

    [ThreadStatic] private static float[]? s_rows;

    /// <summary>Worth it once there is at least one whole tile of tokens to reuse each converted row.</summary>
    public static bool Applies(KernelPath path, int tokens)
    {
        int tile = FloatKernel<F16Weights>.Tile(path);
        return tile > 1 && tokens >= tile;
    }

    public static void Run(KernelPath path, WeightMatrix w, PreparedActivations act, int tokens, ref float y0, int yStride, int rowStart, int rows)
    {
        int cols = w.Cols;
        int chunk = Math.Max(1, ChunkBytes / (cols * sizeof(float)));
        int need = Math.Min(chunk, rows) * cols;
        var scratch = s_rows is { } s && s.Length >= need ? s : s_rows = GC.AllocateUninitializedArray<float>(need);
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int n = Math.Min(chunk, rows - r0);
            var half = MemoryMarshal.Cast<byte, Half>(w.RowSpan(rowStart + r0, n));
            TensorPrimitives.ConvertToSingle(half, scratch.AsSpan(0, n * cols));
            MatMul.RunRows<FloatKernel<F32Weights>>(path, ref Unsafe.As<float, byte>(ref scratch[0]), cols * sizeof(float), n, act, tokens,
                ref Unsafe.Add(ref y0, r0), yStride);
        }
    }
}

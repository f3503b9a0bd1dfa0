using Actors.Interop.Cuda;

namespace Actors.Cuda.Kernels;

/// <summary>
/// Grid and block of every kernel, as each kernels/*.cu header comment states them (pure, so the
/// arithmetic and the hardware limits are tested without a GPU). Grid y and z are limited to 65535.
/// </summary>
public static class LaunchShapes
{
    public const int MaxGridYZ = 65535;
    public const int MatvecWarps = 4, MatvecTokens = 8;
    public const int AttentionThreads = 128, PrefillTileQ = 16, PrefillTileK = 32, MaxHeadDim = 256;
    public const int SampleThreads = 1024;

    public static uint CeilDiv(long a, long b) => checked((uint)((a + b - 1) / b));

    private static uint Y(long value, string what) =>
        value is > 0 and <= MaxGridYZ ? (uint)value : throw new ArgumentOutOfRangeException(what, $"{what} = {value} needs a grid dimension of {value}, above the limit of {MaxGridYZ}");

    private static uint X(long value, string what) =>
        value is > 0 and <= int.MaxValue ? (uint)value : throw new ArgumentOutOfRangeException(what, $"{what} = {value} is not a valid grid size");

    /// <summary>embedding.cu: grid (tokens, ceil(dim/256)), block 256.</summary>
    public static LaunchConfig Embedding(int tokens, int dim) =>
        new(new Dim3(X(tokens, "tokens"), Y(CeilDiv(dim, 256), "dim/256")), new Dim3(256));

    /// <summary>rmsnorm.cu: grid (rows), block 256.</summary>
    public static LaunchConfig RmsNorm(int rows) => new(new Dim3(X(rows, "rows")), new Dim3(256));

    /// <summary>rope.cu: grid (tokens, heads + kv_heads), block 64.</summary>
    public static LaunchConfig Rope(int tokens, int heads, int kvHeads) =>
        new(new Dim3(X(tokens, "tokens"), Y(heads + kvHeads, "heads + kv_heads")), new Dim3(64));

    /// <summary>kv_cache.cu: grid (tokens), block 128.</summary>
    public static LaunchConfig KvWrite(int tokens) => new(new Dim3(X(tokens, "tokens")), new Dim3(128));

    /// <summary>attention.cu decode: grid (heads, work items), block 128.</summary>
    public static LaunchConfig AttentionDecode(int heads, int workItems, int headDim)
    {
        CheckHeadDim(headDim);
        return new(new Dim3(X(heads, "heads"), Y(workItems, "decode tokens")), new Dim3(AttentionThreads));
    }

    /// <summary>attention.cu prefill: grid (heads, tiles), block 128, dynamic shared memory for the Q, K and V tiles.</summary>
    public static LaunchConfig AttentionPrefill(int heads, int tiles, int headDim)
    {
        CheckHeadDim(headDim);
        return new(new Dim3(X(heads, "heads"), Y(tiles, "prefill tiles")), new Dim3(AttentionThreads), (uint)PrefillSharedBytes(headDim));
    }

    /// <summary>(16·d + 32·(d+1) + 32·d) floats: the Q tile, the padded K tile and the V tile.</summary>
    public static int PrefillSharedBytes(int headDim) => 4 * (PrefillTileQ * headDim + PrefillTileK * (headDim + 1) + PrefillTileK * headDim);

    private static void CheckHeadDim(int headDim)
    {
        if (headDim <= 0 || headDim > MaxHeadDim)
            throw new ArgumentOutOfRangeException(nameof(headDim), $"head size {headDim} is not supported by the CUDA attention kernels (1..{MaxHeadDim})");
    }

    /// <summary>silu_mul.cu, residual_add.cu: grid-stride over n with block 256.</summary>
    public static LaunchConfig Elementwise(long n) => new(new Dim3((uint)Math.Min(CeilDiv(Math.Max(n, 1), 256), MaxGridYZ)), new Dim3(256));

    /// <summary>matvec.cu: grid (ceil(rows/4), ceil(tokens/8)), block 128.</summary>
    public static LaunchConfig Matvec(int rows, int tokens) =>
        new(new Dim3(X(CeilDiv(rows, MatvecWarps), "rows/4"), Y(CeilDiv(tokens, MatvecTokens), "tokens/8")), new Dim3(32 * MatvecWarps));

    /// <summary>dequant.cu: grid (rows, ceil(cols/256)), block 256.</summary>
    public static LaunchConfig Dequant(int rows, int cols) =>
        new(new Dim3(X(rows, "rows"), Y(CeilDiv(cols, 256), "cols/256")), new Dim3(256));

    /// <summary>dequant.cu for the group types: grid (rows, ceil(cols/2048)), block 256, 8 values per thread.</summary>
    public static LaunchConfig DequantGroups(int rows, int cols) =>
        new(new Dim3(X(rows, "rows"), Y(CeilDiv(cols, 8 * 256), "cols/2048")), new Dim3(256));

    /// <summary>sampling.cu: grid (rows), block 1024.</summary>
    public static LaunchConfig Sample(int rows) => new(new Dim3(X(rows, "rows")), new Dim3(SampleThreads));
}

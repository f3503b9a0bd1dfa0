namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// The dot products of one weight type: one row against one token, or one row against a tile of
/// consecutive tokens that shares each decoded weight vector. The tile must perform, for every
/// token, exactly the operations <see cref="Dot1"/> performs, in the same order; that is what makes
/// results independent of the batch.
/// </summary>
internal interface IRowKernel
{
    /// <summary>Tokens per tile on <paramref name="path"/> (1: no tile; the driver then calls only Dot1).</summary>
    static abstract int Tile(KernelPath path);

    /// <summary>Σ_i W[row, i]·x[t, i].</summary>
    static abstract float Dot1(KernelPath path, ref byte row, PreparedActivations a, int t);

    /// <summary>
    /// Optionally the single-token products of two rows at once (two memory streams in flight), each
    /// with exactly <see cref="Dot1"/>'s sequence; false when the kernel has no such form.
    /// </summary>
    static abstract bool Dot2Rows(KernelPath path, ref byte row0, ref byte row1, PreparedActivations a, int t, out float y0, out float y1);

    /// <summary>Writes the dot products of tokens t0..t0+Tile−1 to y at 0, yStride, 2·yStride, …</summary>
    static abstract void DotTile(KernelPath path, ref byte row, PreparedActivations a, int t0, ref float y, nint yStride);

    /// <summary>
    /// Optionally computes tokens [0, returned count) for all <paramref name="rows"/> rows at once with a
    /// cache-blocked kernel (same per-pair sequence as <see cref="Dot1"/>); 0 leaves everything to the
    /// row-at-a-time loops. <paramref name="y"/> is row 0 of token 0.
    /// </summary>
    static abstract int Prefill(KernelPath path, ref byte rows0, int rowBytes, int rows, PreparedActivations a, int tokens, ref float y, nint yStride);
}

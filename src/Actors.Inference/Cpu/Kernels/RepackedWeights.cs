using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Weights repacked at load into groups of <see cref="GroupRows"/> interleaved rows for a register
/// tile (one repacked type per subclass), in one 64-byte-aligned pinned array. This class drives the
/// tiles: row chunks that stay in L2 while every token tile passes over them, 4-token tiles then single
/// tokens, partial groups at the ends of a row range computed whole and copied in part.
/// </summary>
/// <remarks>
/// Batch invariance: a subclass's 4-token and 1-token tiles must perform, for every (row, token), the
/// same floating-point operations in the same order (integer sums are exact, so their order is free).
/// A type whose llama.cpp batch order differs (<see cref="HasBatchOrder"/>: Q4_K) adds <see cref="TileBatch"/>,
/// used for the tokens <see cref="PreparedActivations.SetTokenOrder"/> flags; each token's order then follows
/// its own flag, never its neighbours.
/// </remarks>
internal abstract class RepackedWeights
{
    public const int GroupRows = 16;

    /// <summary>Repacked bytes of a row chunk that prefill keeps in L2 while every token tile passes over it.</summary>
    private const int ChunkBytes = 256 * 1024;

    private readonly byte[] _data;
    private readonly int _offset; // first byte of group 0 on a 64-byte boundary

    public int Rows { get; }
    public int Groups { get; }
    protected int GroupBytes { get; }

    protected RepackedWeights(int rows, int groupBytes)
    {
        Rows = rows;
        Groups = (rows + GroupRows - 1) / GroupRows;
        GroupBytes = groupBytes;
        long bytes = (long)Groups * groupBytes;
        int align = Alignment(bytes);
        _data = GC.AllocateUninitializedArray<byte>(checked((int)(bytes + align)), pinned: true);
        _offset = (int)((align - Marshal.UnsafeAddrOfPinnedArrayElement(_data, 0) % align) % align);
        if (align == HugePages.Size) HugePages.Advise(ref Group(0), bytes);
    }

    /// <summary>
    /// Where group 0 starts: on a 2 MiB boundary for a copy of at least one huge page (so all of it can sit on
    /// huge pages; the slack is address space, never touched), else on a 64-byte one.
    /// </summary>
    private static int Alignment(long bytes) => HugePages.Enabled && bytes >= HugePages.Size ? HugePages.Size : 64;

    /// <summary>
    /// Value-by-value copy of one 16-row group of 32-value blocks (an f16 scale, then <paramref name="steps"/> dwords
    /// of quants) into the blocked layout Q8_0, Q4_0 and IQ4_NL share: each block's 16 scales as f32 at bytes 0..63,
    /// then dword s of row r at 64 + 64·s + 4·r, xor'ed with <paramref name="flip"/>. Padding rows get d = 0 (they add
    /// exactly zero) and <paramref name="padding"/> as quants.
    /// </summary>
    protected static void CopyBlocks32(ReadOnlySpan<byte> src, int rowBytes, int rows, int blocks, int blockBytes, int steps, uint flip, uint padding, ref byte dst)
    {
        int sourceBlockBytes = 2 + 4 * steps;
        for (int b = 0; b < blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref dst, (nint)b * blockBytes);
            for (int row = 0; row < GroupRows; row++)
            {
                if (row >= rows)
                {
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), 0f);
                    for (int st = 0; st < steps; st++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 64 * st + 4 * row), padding);
                    continue;
                }
                var sb = src.Slice(row * rowBytes + b * sourceBlockBytes, sourceBlockBytes);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), (float)BitConverter.UInt16BitsToHalf(MemoryMarshal.Read<ushort>(sb)));
                for (int st = 0; st < steps; st++)
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 64 * st + 4 * row), MemoryMarshal.Read<uint>(sb.Slice(2 + 4 * st)) ^ flip);
            }
        }
    }

    /// <summary>Whether a repacked copy of <paramref name="rows"/> groups of <paramref name="groupBytes"/> fits one array.</summary>
    protected static bool Fits(int rows, long groupBytes)
    {
        long bytes = (long)((rows + GroupRows - 1) / GroupRows) * groupBytes;
        return bytes + Alignment(bytes) <= Array.MaxLength;
    }

    protected ref byte Group(int g) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_data), _offset + (nint)g * GroupBytes);

    /// <summary>Where group 0 starts (the array is pinned).</summary>
    internal unsafe nint Address => (nint)Unsafe.AsPointer(ref Group(0));

    /// <summary>Bytes the repacked copy holds.</summary>
    public long ByteSize => (long)Groups * GroupBytes;

    /// <summary>Prefetches <paramref name="bytes"/> from <paramref name="first"/>, a line at a time.</summary>
    private static unsafe void PrefetchHead(ref byte first, int bytes)
    {
        byte* p = (byte*)Unsafe.AsPointer(ref first);
        for (int o = 0; o < bytes; o += 64) System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + o);
    }

    /// <summary>Rows 0..15 of a group × tokens t0..t0+3 into tile[k·16 + r].</summary>
    protected abstract void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile);

    /// <summary>Rows 0..15 of a group × token t into tile[r].</summary>
    protected abstract void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile);

    /// <summary>Whether this type's batch order (<see cref="TileBatch"/>) differs from its one-token order.</summary>
    protected virtual bool HasBatchOrder => false;

    /// <summary>Rows 0..15 of a group × tokens t[0..3] (any four, repeats allowed) into tile[k·16 + r], in the batch order.</summary>
    protected virtual void TileBatch(ref byte grp, PreparedActivations a, ref int t, ref float tile) => throw new NotSupportedException();

    /// <summary>
    /// How far ahead a subclass's <see cref="Tile1"/> prefetches its own stream (0: not at all). A one-token range
    /// then starts by prefetching that much of its head, which the tile's prefetches never cover: the worker pool
    /// hands out row chunks of a few groups, so without it every chunk began with demand misses.
    /// </summary>
    protected virtual int Tile1PrefetchBytes => 0;

    /// <summary>y[t·yStride + r] for r in [rowStart, rowEnd), t in [0, tokens).</summary>
    public void Compute(PreparedActivations a, int tokens, ref float y, nint yStride, int rowStart, int rowEnd)
    {
        if (HasBatchOrder && a.HasTokenOrder)
        {
            ComputeOrdered(a, tokens, ref y, yStride, rowStart, rowEnd);
            return;
        }
        Span<float> tile = stackalloc float[GroupRows * 4];
        int g0 = rowStart / GroupRows, g1 = (rowEnd + GroupRows - 1) / GroupRows;
        if (tokens == 1) PrefetchHead(ref Group(g0), (int)Math.Min(Tile1PrefetchBytes, (long)(g1 - g0) * GroupBytes));
        int chunk = tokens == 1 ? g1 - g0 : Math.Max(1, ChunkBytes / GroupBytes);
        for (int c0 = g0; c0 < g1; c0 += chunk)
        {
            int c1 = Math.Min(g1, c0 + chunk);
            for (int t = 0; t < tokens;)
            {
                int n = tokens - t >= 4 ? 4 : 1;
                for (int g = c0; g < c1; g++)
                {
                    if (n == 4) Tile4(ref Group(g), a, t, ref MemoryMarshal.GetReference(tile));
                    else Tile1(ref Group(g), a, t, ref MemoryMarshal.GetReference(tile));
                    int lo = Math.Max(rowStart, g * GroupRows), hi = Math.Min(rowEnd, (g + 1) * GroupRows);
                    for (int k = 0; k < n; k++)
                        tile.Slice(k * GroupRows + lo - g * GroupRows, hi - lo).CopyTo(
                            MemoryMarshal.CreateSpan(ref Unsafe.Add(ref y, (t + k) * yStride + lo), hi - lo));
                }
                t += n;
            }
        }
    }

    /// <summary>
    /// <see cref="Compute"/> with each token in the order <see cref="PreparedActivations.SetTokenOrder"/> named:
    /// batch-order tokens four at a time wherever they sit (a short last tile repeats its last token), the
    /// others as <see cref="Compute"/> takes them (consecutive fours, then singles).
    /// </summary>
    private void ComputeOrdered(PreparedActivations a, int tokens, ref float y, nint yStride, int rowStart, int rowEnd)
    {
        Span<float> tile = stackalloc float[GroupRows * 4];
        Span<int> four = stackalloc int[4];
        int nBatch = Count(a.BatchTokens, a.BatchTokenCount, tokens), nSingle = Count(a.SingleTokens, a.SingleTokenCount, tokens);
        int g0 = rowStart / GroupRows, g1 = (rowEnd + GroupRows - 1) / GroupRows;
        int chunk = tokens == 1 ? g1 - g0 : Math.Max(1, ChunkBytes / GroupBytes);
        for (int c0 = g0; c0 < g1; c0 += chunk)
        {
            int c1 = Math.Min(g1, c0 + chunk);
            for (int i = 0; i < nBatch; i += 4)
            {
                int n = Math.Min(4, nBatch - i);
                for (int k = 0; k < 4; k++) four[k] = a.BatchTokens[i + Math.Min(k, n - 1)];
                for (int g = c0; g < c1; g++)
                {
                    TileBatch(ref Group(g), a, ref MemoryMarshal.GetReference(four), ref MemoryMarshal.GetReference(tile));
                    Store(tile, n, four, g, ref y, yStride, rowStart, rowEnd);
                }
            }
            for (int i = 0; i < nSingle;)
            {
                int t = a.SingleTokens[i];
                int n = i + 4 <= nSingle && a.SingleTokens[i + 3] == t + 3 ? 4 : 1;
                for (int k = 0; k < 4; k++) four[k] = t + k;
                for (int g = c0; g < c1; g++)
                {
                    if (n == 4) Tile4(ref Group(g), a, t, ref MemoryMarshal.GetReference(tile));
                    else Tile1(ref Group(g), a, t, ref MemoryMarshal.GetReference(tile));
                    Store(tile, n, four, g, ref y, yStride, rowStart, rowEnd);
                }
                i += n;
            }
        }
    }

    private static int Count(int[] ascending, int count, int below)
    {
        while (count > 0 && ascending[count - 1] >= below) count--;
        return count;
    }

    /// <summary>tile[k·16 + r] → y[t[k]·yStride + row] for the group's rows inside [rowStart, rowEnd), k &lt; n.</summary>
    private static void Store(ReadOnlySpan<float> tile, int n, ReadOnlySpan<int> t, int g, ref float y, nint yStride, int rowStart, int rowEnd)
    {
        int lo = Math.Max(rowStart, g * GroupRows), hi = Math.Min(rowEnd, (g + 1) * GroupRows);
        for (int k = 0; k < n; k++)
            tile.Slice(k * GroupRows + lo - g * GroupRows, hi - lo).CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref y, t[k] * yStride + lo), hi - lo));
    }
}

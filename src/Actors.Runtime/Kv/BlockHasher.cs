using System.Numerics;
using System.Runtime.InteropServices;

namespace Actors.Runtime.Kv;

/// <summary>
/// Content hash of a full KV block for prefix caching: hash(parent block's hash, the block's token ids).
/// Chaining through the parent makes a block's hash stand for the whole prefix up to and including it,
/// so two sequences share a block only when everything before it is identical too.
/// </summary>
/// <remarks>
/// The hash is 64-bit and not cryptographic: fast (about a nanosecond per token) and stable across
/// processes and machines, which matters because a router may compare hashes computed by other
/// replicas. A collision would let one prompt read another's KV; with 64 bits that is negligible for
/// honest traffic; a multi-tenant deployment that fears crafted collisions would need a per-tenant
/// root or a wider hash.
/// </remarks>
public static class BlockHasher
{
    // Odd 64-bit multipliers with well-spread bits (the usual xxHash/SplitMix-style constants).
    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;
    private const ulong Prime3 = 0x165667B19E3779F9UL;
    private const ulong Prime4 = 0x85EBCA77C2B2AE63UL;

    /// <summary>The "parent hash" of a sequence's first block.</summary>
    public static readonly long Root = (long)Avalanche(Prime3);

    /// <summary>Hash of a block with the given parent hash and token ids.</summary>
    public static long Hash(long parentHash, ReadOnlySpan<int> tokens)
    {
        ulong h = (ulong)parentHash * Prime2 + Prime4 + (ulong)tokens.Length;
        // Two tokens per 64-bit lane halves the number of multiply rounds.
        var lanes = MemoryMarshal.Cast<int, ulong>(tokens);
        foreach (ulong lane in lanes)
            h = BitOperations.RotateLeft(h ^ Round(lane), 27) * Prime1 + Prime4;
        if ((tokens.Length & 1) != 0)
            h = BitOperations.RotateLeft(h ^ Round((uint)tokens[^1]), 23) * Prime2 + Prime3;
        return (long)Avalanche(h);
    }

    private static ulong Round(ulong lane) => BitOperations.RotateLeft(lane * Prime2, 31) * Prime1;

    private static ulong Avalanche(ulong h)
    {
        h ^= h >> 33;
        h *= Prime2;
        h ^= h >> 29;
        h *= Prime3;
        h ^= h >> 32;
        return h;
    }
}

namespace Actors.Inference.Compute;

/// <summary>Element type of the KV cache.</summary>
public enum KvCacheType
{
    F32 = 0,
    F16 = 1,
}

/// <summary>
/// Shape of one stage's paged KV cache: <see cref="NumBlocks"/> blocks of <see cref="BlockSize"/>
/// token slots; each slot holds K and V (kv_heads × head_dim) for every layer of the stage.
/// A token's slot is block_id × BlockSize + offset_in_block.
/// </summary>
public sealed record KvCacheSpec(int BlockSize, int NumBlocks, int KvHeads, int HeadDim, KvCacheType Type = KvCacheType.F32)
{
    public int KvDim => KvHeads * HeadDim;
    public int ElementBytes => Type == KvCacheType.F32 ? 4 : 2;
    public long SlotCount => (long)BlockSize * NumBlocks;

    /// <summary>Bytes of one block for one layer (K and V).</summary>
    public long BlockBytesPerLayer => 2L * BlockSize * KvDim * ElementBytes;

    /// <summary>Bytes of the whole pool for the given number of layers.</summary>
    public long TotalBytes(int layers) => BlockBytesPerLayer * NumBlocks * layers;
}

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
/// <para>With <see cref="SlidingNumBlocks"/> &gt; 0 the model's sliding-window layers keep their KV in a
/// pool of their own (block ids of their own, <see cref="StepBatch.SlidingSlots"/> and
/// <see cref="StepBatch.SlidingBlockTables"/>), which the scheduler recycles as blocks slide out of
/// the window; the main pool then holds only the full-attention layers. 0: every layer uses the main pool.</para>
/// </summary>
public sealed record KvCacheSpec(int BlockSize, int NumBlocks, int KvHeads, int HeadDim, KvCacheType Type = KvCacheType.F32)
{
    public int KvDim => KvHeads * HeadDim;
    public int ElementBytes => Type == KvCacheType.F32 ? 4 : 2;
    public long SlotCount => (long)BlockSize * NumBlocks;

    /// <summary>Blocks of the sliding-window layers' own pool; 0 = they share the main pool.</summary>
    public int SlidingNumBlocks { get; init; }

    public bool HasSlidingPool => SlidingNumBlocks > 0;

    /// <summary>Blocks in the pool that holds layer <paramref name="layer"/>'s KV.</summary>
    public int BlocksOf(Model.LlamaConfig c, int layer) => HasSlidingPool && c.IsSlidingLayer(layer) ? SlidingNumBlocks : NumBlocks;

    /// <summary>Bytes of one block for one layer (K and V).</summary>
    public long BlockBytesPerLayer => 2L * BlockSize * KvDim * ElementBytes;

    /// <summary>Bytes of the whole pool for the given number of layers.</summary>
    public long TotalBytes(int layers) => BlockBytesPerLayer * NumBlocks * layers;

    /// <summary>Bytes of the pools of layers <paramref name="layers"/> of the model (each layer in the pool that holds it).</summary>
    public long TotalBytes(Model.LlamaConfig c, LayerRange layers)
    {
        long bytes = 0;
        for (int l = layers.Start; l < layers.End; l++) bytes += BlockBytesPerLayer * BlocksOf(c, l);
        return bytes;
    }
}

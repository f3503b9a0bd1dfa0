using Actors.Inference.Compute;

namespace Actors.Cuda.Kernels;

/// <summary>
/// How one step's attention is split between the two kernels of attention.cu (pure): a sequence
/// with a single query token is a decode work item; a longer chunk is cut into tiles of 16
/// consecutive tokens for the prefill kernel. Arrays are reused step after step.
/// </summary>
public sealed class AttentionPlan
{
    public int[] DecodeSeq = [], DecodeToken = [];
    public int[] TileSeq = [], TileToken = [];
    /// <summary>One past the last token of each sequence [SequenceCount] (QueryStart[s+1]).</summary>
    public int[] SeqTokenEnd = [];
    public int DecodeCount, TileCount, SequenceCount;

    public void Build(StepBatch batch)
    {
        int tokens = batch.TokenCount, seqs = batch.SequenceCount;
        Grow(ref DecodeSeq, seqs);
        Grow(ref DecodeToken, seqs);
        int maxTiles = seqs + tokens / LaunchShapes.PrefillTileQ;
        Grow(ref TileSeq, maxTiles);
        Grow(ref TileToken, maxTiles);
        Grow(ref SeqTokenEnd, seqs);
        DecodeCount = TileCount = 0;
        SequenceCount = seqs;
        for (int s = 0; s < seqs; s++)
        {
            int start = batch.QueryStart[s], end = batch.QueryStart[s + 1];
            SeqTokenEnd[s] = end;
            if (end - start == 1)
            {
                DecodeSeq[DecodeCount] = s;
                DecodeToken[DecodeCount++] = start;
                continue;
            }
            for (int t = start; t < end; t += LaunchShapes.PrefillTileQ)
            {
                TileSeq[TileCount] = s;
                TileToken[TileCount++] = t;
            }
        }
    }

    private static void Grow(ref int[] array, int size)
    {
        if (array.Length < size) array = new int[Math.Max(size, array.Length * 2)];
    }
}

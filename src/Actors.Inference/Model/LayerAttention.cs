namespace Actors.Inference.Model;

/// <summary>
/// The attention of one layer as the rest of the system needs to know it: whether it looks at a
/// sliding window of the last <see cref="SlidingWindow"/> positions (0 = the whole context) and its
/// RoPE. A pure description: the scheduler, pipeline split, KV sizing and planner read it from
/// <see cref="LlamaConfig.LayerAttentions"/>.
/// </summary>
public sealed record LayerAttention(int Layer, int SlidingWindow, RopeParameters Rope)
{
    public bool IsSliding => SlidingWindow > 0;

    /// <summary>
    /// The first position a query at <paramref name="position"/> attends to: llama.cpp's standard
    /// sliding window masks key position p0 when position − p0 ≥ window.
    /// </summary>
    public int FirstVisiblePosition(int position) => IsSliding ? Math.Max(0, position - SlidingWindow + 1) : 0;

    /// <summary>KV tokens this layer must keep for a sequence of <paramref name="contextLength"/> tokens.</summary>
    public int KvTokensNeeded(int contextLength) => IsSliding ? Math.Min(contextLength, SlidingWindow) : contextLength;

    /// <summary>
    /// KV blocks of <paramref name="blockSize"/> tokens this layer needs per sequence once blocks that
    /// slid out of the window are freed: the window can straddle one more block than it fills.
    /// </summary>
    public int KvBlocksNeeded(int contextLength, int blockSize)
    {
        int full = (contextLength + blockSize - 1) / blockSize;
        return IsSliding ? Math.Min(full, (SlidingWindow + blockSize - 1) / blockSize + 1) : full;
    }
}

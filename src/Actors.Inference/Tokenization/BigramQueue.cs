namespace Actors.Inference.Tokenization;

/// <summary>A candidate merge of two adjacent symbols, as llama.cpp's SPM and BPE sessions queue them.</summary>
internal struct Bigram
{
    /// <summary>Smaller is merged first: the BPE rank, or the negated (order-preserving) SPM score.</summary>
    public long Priority;
    public int Left;
    public int Right;
    /// <summary>Length of the merged text when queued; a different length later means the entry is stale.</summary>
    public int Length;
}

/// <summary>
/// A binary min-heap of <see cref="Bigram"/>s ordered by (priority, left index): the best merge first,
/// ties to the leftmost pair, as llama.cpp's comparators. Reused across words; grows, never shrinks.
/// </summary>
internal sealed class BigramQueue
{
    private Bigram[] _items = new Bigram[64];

    public int Count { get; private set; }

    public void Clear() => Count = 0;

    public void Push(in Bigram item)
    {
        if (Count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
        int i = Count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (!Less(item, _items[parent])) break;
            _items[i] = _items[parent];
            i = parent;
        }
        _items[i] = item;
    }

    public Bigram Pop()
    {
        var top = _items[0];
        var last = _items[--Count];
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= Count) break;
            if (child + 1 < Count && Less(_items[child + 1], _items[child])) child++;
            if (!Less(_items[child], last)) break;
            _items[i] = _items[child];
            i = child;
        }
        if (Count > 0) _items[i] = last;
        return top;
    }

    private static bool Less(in Bigram a, in Bigram b) => a.Priority < b.Priority || (a.Priority == b.Priority && a.Left < b.Left);

    /// <summary>Maps a float score to a long that orders the same way, with -0 equal to +0; negated so the highest score pops first.</summary>
    public static long ScorePriority(float score)
    {
        if (score == 0) score = 0; // -0 and +0 tie, as float comparison says
        int bits = BitConverter.SingleToInt32Bits(score);
        int ordered = bits >= 0 ? bits : bits ^ int.MaxValue;
        return -(long)ordered;
    }
}

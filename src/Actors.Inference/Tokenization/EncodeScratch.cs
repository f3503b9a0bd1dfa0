namespace Actors.Inference.Tokenization;

/// <summary>
/// Working buffers of one Encode call, cached per thread so that steady-state encoding allocates only
/// its result. Buffers grow to the largest text seen; very large ones are not kept.
/// </summary>
internal sealed class EncodeScratch
{
    private const int MaxCachedLength = 1 << 20;

    [ThreadStatic] private static EncodeScratch? t_cached;

    public readonly List<Tokenizer.Fragment> Fragments = new(), FragmentsSwap = new();
    public readonly List<int> Words = new(), WordsSwap = new();
    public readonly BigramQueue Queue = new();
    public int[] Start = new int[256], Len = new int[256], Prev = new int[256], Next = new int[256];
    private char[] _chars = new char[256];
    private char[] _key = new char[64];
    private int[] _codepoints = new int[256];

    public static EncodeScratch Rent()
    {
        var s = t_cached ?? new EncodeScratch();
        t_cached = null;
        return s;
    }

    public static void Return(EncodeScratch s)
    {
        if (s._chars.Length <= MaxCachedLength && s._codepoints.Length <= MaxCachedLength && s.Start.Length <= MaxCachedLength)
            t_cached = s;
    }

    public char[] Chars(int length) => _chars.Length >= length ? _chars : _chars = new char[Grow(_chars.Length, length)];

    public char[] MergeKey(int length) => _key.Length >= length ? _key : _key = new char[Grow(_key.Length, length)];

    public int[] Codepoints(int length) => _codepoints.Length >= length ? _codepoints : _codepoints = new int[Grow(_codepoints.Length, length)];

    public void EnsureSymbols(int count)
    {
        if (Start.Length >= count) return;
        int size = Grow(Start.Length, count);
        Start = new int[size]; Len = new int[size]; Prev = new int[size]; Next = new int[size];
    }

    private static int Grow(int current, int needed) => Math.Max(needed, current * 2);
}

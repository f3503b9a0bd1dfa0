namespace Actors.Cluster.Routing;

/// <summary>
/// Which worker last served a prompt prefix: the hash of a prompt's first tokens maps to a worker, so a
/// later prompt with the same start can go where that prefix's KV blocks are cached. Bounded: the least
/// recently used prefixes are forgotten. Not thread-safe (one gateway actor owns it).
/// </summary>
public sealed class PrefixAffinity(int capacity)
{
    private readonly Dictionary<ulong, LinkedListNode<(ulong Key, string Worker)>> _map = new();
    private readonly LinkedList<(ulong Key, string Worker)> _recent = new();

    public int Count => _map.Count;

    /// <summary>
    /// The key of a prompt: FNV-1a over its first <paramref name="tokens"/> token ids; null when the prompt is
    /// shorter (a prefix that short is not a cached block worth following) or affinity is off (0).
    /// </summary>
    public static ulong? Key(ReadOnlySpan<int> prompt, int tokens)
    {
        if (tokens <= 0 || prompt.Length < tokens) return null;
        ulong h = 14695981039346656037UL;
        foreach (int t in prompt[..tokens])
        {
            uint v = (uint)t;
            for (int b = 0; b < 4; b++, v >>= 8)
            {
                h ^= v & 0xFF;
                h *= 1099511628211UL;
            }
        }
        return h;
    }

    public string? Lookup(ulong key)
    {
        if (!_map.TryGetValue(key, out var node)) return null;
        _recent.Remove(node);
        _recent.AddFirst(node);
        return node.Value.Worker;
    }

    public void Record(ulong key, string worker)
    {
        if (_map.TryGetValue(key, out var node))
        {
            _recent.Remove(node);
            node.Value = (key, worker);
            _recent.AddFirst(node);
            return;
        }
        if (_map.Count >= capacity && _recent.Last is { } oldest)
        {
            _map.Remove(oldest.Value.Key);
            _recent.RemoveLast();
        }
        _map[key] = _recent.AddFirst((key, worker));
    }
}

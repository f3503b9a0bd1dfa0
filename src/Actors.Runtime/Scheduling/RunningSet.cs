namespace Actors.Runtime.Scheduling;

/// <summary>
/// Running sequences kept sorted by importance: priority (lower value first), then arrival, then
/// admission order. The scheduler walks it front to back to hand out the token budget, and picks
/// preemption victims from the back (least important, latest arrival). A plain array: the set is
/// bounded by the running-sequence limit (hundreds), where shifting beats any linked structure.
/// </summary>
internal sealed class RunningSet
{
    private readonly SequenceState[] _items;

    public RunningSet(int capacity) => _items = new SequenceState[capacity];

    public int Count { get; private set; }

    public SequenceState this[int index] => _items[index];

    public void Insert(SequenceState sequence)
    {
        if (Count == _items.Length) throw new InvalidOperationException($"the running set is full ({Count} sequences)");
        int i = Count;
        while (i > 0 && Precedes(sequence, _items[i - 1]))
        {
            _items[i] = _items[i - 1];
            i--;
        }
        _items[i] = sequence;
        Count++;
    }

    public void RemoveAt(int index)
    {
        Array.Copy(_items, index + 1, _items, index, Count - index - 1);
        _items[--Count] = null!;
    }

    public void Remove(SequenceState sequence)
    {
        int index = Array.IndexOf(_items, sequence, 0, Count);
        if (index < 0) throw new InvalidOperationException($"sequence {sequence.Id} is not running");
        RemoveAt(index);
    }

    private static bool Precedes(SequenceState a, SequenceState b)
    {
        if (a.Priority != b.Priority) return a.Priority < b.Priority;
        if (a.ArrivalTime != b.ArrivalTime) return a.ArrivalTime < b.ArrivalTime;
        return a.AdmissionOrder < b.AdmissionOrder;
    }
}

namespace Actors.Runtime.Scheduling;

/// <summary>
/// Waiting (or swapped) sequences in service order: priority (lower value first), then arrival time,
/// then admission order. An intrusive doubly-linked list through <see cref="SequenceState"/>, so
/// insertion, removal from anywhere (cancellation) and taking the head allocate nothing. New arrivals
/// are inserted walking back from the tail (O(1) when requests arrive in order); preempted sequences
/// go to the front of their priority class, ahead of requests that never started.
/// </summary>
internal sealed class SequenceQueue
{
    public SequenceState? First { get; private set; }
    public SequenceState? Last { get; private set; }
    public int Count { get; private set; }

    /// <summary>Inserts after every sequence that precedes it by (priority, arrival, admission) and every preempted one of its class.</summary>
    public void InsertByArrival(SequenceState sequence)
    {
        var after = Last;
        while (after != null && GoesBefore(sequence, after)) after = after.Previous;
        InsertAfter(sequence, after);
    }

    /// <summary>Inserts before the first sequence of equal or lower importance (lower = larger priority value).</summary>
    public void InsertAtFrontOfClass(SequenceState sequence)
    {
        var before = First;
        while (before != null && before.Priority < sequence.Priority) before = before.Next;
        InsertAfter(sequence, before == null ? Last : before.Previous);
    }

    public void Remove(SequenceState sequence)
    {
        if (!sequence.Queued) throw new InvalidOperationException($"sequence {sequence.Id} is not queued");
        if (sequence.Previous != null) sequence.Previous.Next = sequence.Next; else First = sequence.Next;
        if (sequence.Next != null) sequence.Next.Previous = sequence.Previous; else Last = sequence.Previous;
        sequence.Previous = sequence.Next = null;
        sequence.Queued = false;
        Count--;
    }

    private static bool GoesBefore(SequenceState sequence, SequenceState other)
    {
        if (sequence.Priority != other.Priority) return sequence.Priority < other.Priority;
        if (other.AtFrontOfClass) return sequence.AtFrontOfClass && ServedBefore(sequence, other);
        return sequence.AtFrontOfClass || ServedBefore(sequence, other);
    }

    private static bool ServedBefore(SequenceState a, SequenceState b) =>
        a.ArrivalTime != b.ArrivalTime ? a.ArrivalTime < b.ArrivalTime : a.AdmissionOrder < b.AdmissionOrder;

    private void InsertAfter(SequenceState sequence, SequenceState? previous)
    {
        if (sequence.Queued) throw new InvalidOperationException($"sequence {sequence.Id} is already queued");
        var next = previous == null ? First : previous.Next;
        sequence.Previous = previous;
        sequence.Next = next;
        if (previous != null) previous.Next = sequence; else First = sequence;
        if (next != null) next.Previous = sequence; else Last = sequence;
        sequence.Queued = true;
        Count++;
    }
}

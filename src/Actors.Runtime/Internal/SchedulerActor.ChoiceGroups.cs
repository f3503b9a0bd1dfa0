using Akka.Actor;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Internal;

/// <summary>
/// A request's n choices reach the scheduler as n <see cref="EnqueueSequence"/> from n request actors;
/// they are held until all have come (or left), then admitted as one sequence with forks: the first
/// choice computes the prompt, the others start from its KV blocks (<see cref="SequenceRequest.Forks"/>).
/// The wait is short: the router starts every choice's request actor in one message.
/// </summary>
internal sealed partial class SchedulerActor
{
    private sealed class GroupAssembly(int expected)
    {
        public int Expected = expected;
        public readonly List<(EnqueueSequence Enqueue, IActorRef Sender)> Members = new(expected);
    }

    private readonly Dictionary<long, GroupAssembly> _assembling = new();

    /// <summary>Takes a choice of a group into its assembly; false for a request on its own.</summary>
    private bool JoinGroup(EnqueueSequence e, IActorRef sender)
    {
        if (e.Group is not { Size: > 1 } group) return false;
        var assembly = Assembly(group.Id, group.Size);
        assembly.Members.Add((e, sender));
        AdmitIfAssembled(group.Id, assembly);
        return true;
    }

    private void LeaveGroup(LeaveChoiceGroup leave)
    {
        if (!_assembling.TryGetValue(leave.GroupId, out var assembly)) return;
        assembly.Expected--;
        AdmitIfAssembled(leave.GroupId, assembly);
    }

    /// <summary>A choice aborted while its group assembles: it ends now and the group goes on without it.</summary>
    private bool AbortAssembling(long sequenceId, FinishReason reason)
    {
        foreach (var (id, assembly) in _assembling)
        {
            int i = assembly.Members.FindIndex(m => m.Enqueue.Request.Id == sequenceId);
            if (i < 0) continue;
            var stream = assembly.Members[i].Enqueue.Stream;
            assembly.Members.RemoveAt(i);
            assembly.Expected--;
            End(stream, reason, null);
            AdmitIfAssembled(id, assembly);
            return true;
        }
        return false;
    }

    private GroupAssembly Assembly(long id, int size)
    {
        if (!_assembling.TryGetValue(id, out var assembly)) _assembling[id] = assembly = new GroupAssembly(size);
        return assembly;
    }

    private void AdmitIfAssembled(long id, GroupAssembly assembly)
    {
        if (assembly.Members.Count < assembly.Expected) return;
        _assembling.Remove(id);
        var members = assembly.Members;
        if (members.Count == 0) return;
        members.Sort((a, b) => a.Enqueue.Request.Id.CompareTo(b.Enqueue.Request.Id));
        var forks = new SequenceRequest[members.Count - 1];
        for (int i = 1; i < members.Count; i++) forks[i - 1] = members[i].Enqueue.Request;
        var result = _policy.TryAdd(members[0].Enqueue.Request with { Forks = forks });
        foreach (var (e, sender) in members)
        {
            if (!result.IsAccepted)
            {
                sender.Tell(new SequenceRejected(e.Request.Id, result.Status, result.Message ?? result.Status.ToString()));
                continue;
            }
            _streams[e.Request.Id] = e.Stream;
            _pendingSetup[e.Request.Id] = (e.Sampling, e.PromptTokens);
            sender.Tell(new SequenceAdmitted(e.Request.Id));
        }
        if (result.IsAccepted) _metrics.PromptAdmitted(members[0].Enqueue.PromptTokens.Length); // computed once for the group
    }

    /// <summary>The replica is out of service: every choice still assembling ends with the reason.</summary>
    private void EndAssembling(string reason)
    {
        foreach (var (_, assembly) in _assembling)
            foreach (var (e, _) in assembly.Members) End(e.Stream, FinishReason.Error, reason);
        _assembling.Clear();
    }
}

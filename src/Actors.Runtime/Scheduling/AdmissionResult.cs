namespace Actors.Runtime.Scheduling;

public enum AdmissionStatus
{
    Accepted = 0,
    /// <summary>The waiting queue holds <see cref="SchedulerSettings.MaxWaiting"/> sequences already: try later or elsewhere.</summary>
    QueueFull = 1,
    EmptyPrompt = 2,
    /// <summary>The prompt alone is longer than <see cref="SchedulerSettings.MaxModelLength"/>.</summary>
    PromptTooLong = 3,
    /// <summary>Prompt + max new tokens is longer than <see cref="SchedulerSettings.MaxModelLength"/>.</summary>
    PromptPlusMaxTokensTooLong = 4,
    /// <summary>The prompt needs more KV blocks than the whole pool has.</summary>
    PromptExceedsKvPool = 5,
    /// <summary>Prompt + max new tokens need more KV blocks than the whole pool: the sequence could not finish even alone.</summary>
    SequenceExceedsKvPool = 6,
    /// <summary>A live sequence already has this id.</summary>
    DuplicateId = 7,
    /// <summary>Max new tokens below 1.</summary>
    InvalidMaxNewTokens = 8,
}

/// <summary>Outcome of <see cref="SchedulerPolicy.TryAdd"/>: accepted, or why not in words a client can be shown.</summary>
public readonly record struct AdmissionResult(AdmissionStatus Status, string? Message)
{
    public static AdmissionResult Accepted => new(AdmissionStatus.Accepted, null);

    public bool IsAccepted => Status == AdmissionStatus.Accepted;

    public static AdmissionResult Reject(AdmissionStatus status, string message) => new(status, message);

    public override string ToString() => IsAccepted ? "accepted" : $"{Status}: {Message}";
}

namespace Actors.Server;

/// <summary>
/// Admission and drain for graceful shutdown: requests enter and exit; once draining starts new ones
/// are refused (503) and <see cref="DrainAsync"/> waits for those in flight, up to a limit.
/// </summary>
public sealed class ServerLifecycle
{
    private int _inFlight;
    private volatile bool _draining;
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Draining => _draining;
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Counts a request in; false (and not counted) once draining has begun.</summary>
    public bool TryEnter()
    {
        Interlocked.Increment(ref _inFlight);
        if (!_draining) return true;
        Exit();
        return false;
    }

    public void Exit()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0 && _draining) _idle.TrySetResult();
    }

    /// <summary>Stops admission and waits until no request is in flight or <paramref name="limit"/> passes; true when all finished.</summary>
    public async Task<bool> DrainAsync(TimeSpan limit)
    {
        _draining = true;
        if (InFlight == 0) _idle.TrySetResult();
        try
        {
            await _idle.Task.WaitAsync(limit);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}

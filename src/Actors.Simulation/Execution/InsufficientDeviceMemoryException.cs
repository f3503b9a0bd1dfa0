namespace Actors.Simulation;

/// <summary>A stage does not fit on a (simulated) device; the message names the stage and both byte counts.</summary>
public sealed class InsufficientDeviceMemoryException(string stage, string device, long neededBytes, long availableBytes)
    : InvalidOperationException($"{stage} needs {neededBytes / 1e9:F2} GB on {device}, which has {availableBytes / 1e9:F2} GB available (short by {(neededBytes - availableBytes) / 1e9:F2} GB)")
{
    public string Stage { get; } = stage;
    public long NeededBytes { get; } = neededBytes;
    public long AvailableBytes { get; } = availableBytes;
}

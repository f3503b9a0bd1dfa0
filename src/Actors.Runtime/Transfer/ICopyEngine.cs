namespace Actors.Runtime.Transfer;

/// <summary>
/// Moves activations over one kind of path. The receiving stage runs it on its device's thread.
/// Pluggable per path kind through <see cref="RuntimeSetup.CopyEngines"/> (a peer-to-peer DMA engine,
/// a network transport); the built-in one (<see cref="HostCopyEngine"/>) copies host memory, which is what every in-process path is
/// once a stage has its hidden states on the host.
/// </summary>
public interface ICopyEngine
{
    string Name { get; }

    void Copy(ReadOnlySpan<float> source, Span<float> destination);
}

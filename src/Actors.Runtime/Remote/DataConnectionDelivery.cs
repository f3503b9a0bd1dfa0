using Actors.Runtime.Transfer;

namespace Actors.Runtime.Remote;

/// <summary>
/// The engine of a path between nodes: the remote stage's data connection has already moved the bytes
/// (sent them with its step, or received its output into this process), so the receiving stage takes the
/// buffer as it is and the remote stage's exchange is what the accounting books.
/// </summary>
public sealed class DataConnectionDelivery : ICopyEngine
{
    public static readonly DataConnectionDelivery Instance = new();

    public string Name => "data connection (moved by the remote stage)";

    public void Copy(ReadOnlySpan<float> source, Span<float> destination) => source.CopyTo(destination);
}

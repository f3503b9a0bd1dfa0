using Actors.Interop.Cuda;

namespace Actors.Cuda.Topology;

/// <summary>
/// Copies device memory from one GPU to another by a chosen path: cuMemcpyPeerAsync when peer
/// access is enabled, else through two halves of a portable pinned host buffer (device → host on
/// the source's stream, host → device on the destination's, the halves alternating so both copies
/// overlap). <see cref="Copy"/> returns when the bytes have landed.
/// </summary>
public sealed class CudaPeerCopier : IDisposable
{
    private readonly CudaContext _source, _destination;
    private readonly CudaStream _sourceStream, _destinationStream;
    private readonly PinnedHostBuffer? _staging;
    private readonly CudaEvent[] _landed = [];
    private readonly long _half;

    public TransferPath Path { get; }

    public CudaPeerCopier(CudaContext source, CudaContext destination, TransferPath path, long stagingBytes = 8L << 20)
    {
        _source = source;
        _destination = destination;
        Path = path;
        _sourceStream = CudaStream.Create(source);
        _destinationStream = CudaStream.Create(destination);
        if (path == TransferPath.HostStaged)
        {
            _half = Math.Max(4096, stagingBytes / 2);
            _staging = PinnedHostBuffer.Allocate(source, 2 * _half);
            _landed = [CudaEvent.Create(destination, timing: false), CudaEvent.Create(destination, timing: false)];
        }
    }

    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long bytes)
    {
        if (bytes < 0 || sourceOffset < 0 || destinationOffset < 0 || sourceOffset + bytes > source.Bytes || destinationOffset + bytes > destination.Bytes)
            throw new ArgumentOutOfRangeException(nameof(bytes),
                $"copy of {bytes} bytes from offset {sourceOffset} of {source.Bytes} to offset {destinationOffset} of {destination.Bytes} is out of range");
        if (bytes == 0) return;
        ulong src = source.At(sourceOffset), dst = destination.At(destinationOffset);
        if (Path != TransferPath.HostStaged)
        {
            _source.MakeCurrent();
            _source.Driver.MemcpyPeerAsync(dst, _destination.Handle, src, _source.Handle, bytes, _sourceStream.Handle);
            _sourceStream.Synchronize();
            return;
        }
        var pending = new bool[2];
        int chunk = 0;
        for (long offset = 0; offset < bytes; offset += _half, chunk++)
        {
            int half = chunk & 1;
            long length = Math.Min(_half, bytes - offset);
            if (pending[half]) _landed[half].Synchronize();
            _staging!.CopyFromDevice(src + (ulong)offset, half * _half, length, _sourceStream);
            _sourceStream.Synchronize();
            _staging.CopyToDevice(half * _half, dst + (ulong)offset, length, _destinationStream);
            _landed[half].Record(_destinationStream);
            pending[half] = true;
        }
        _destinationStream.Synchronize();
    }

    public void Dispose()
    {
        foreach (var e in _landed) e.Dispose();
        _staging?.Dispose();
        _sourceStream.Dispose();
        _destinationStream.Dispose();
    }
}

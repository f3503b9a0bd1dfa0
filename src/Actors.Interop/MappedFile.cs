using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace Actors.Interop;

/// <summary>
/// A read-only memory-mapped file whose bytes are handed out as zero-copy spans and memories.
/// Every slice is bounds-checked against the file length, so a corrupted offset in a file
/// becomes an <see cref="ArgumentOutOfRangeException"/> naming the numbers, never a wild read.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private System.Runtime.InteropServices.GCHandle _pinned;
    private byte* _base;

    public string Path { get; }
    public long Length { get; }

    private MappedFile(string path, long length, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePtr)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        _base = basePtr;
    }

    public static MappedFile Open(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"file not found: {path}", path);
        long length = info.Length;
        if (length == 0) return new MappedFile(path, 0, null, null, null);
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        p += view.PointerOffset;
        return new MappedFile(path, length, map, view, p);
    }

    /// <summary>
    /// Bytes already in memory, pinned, served like a mapped file (parsers read files and memory alike;
    /// the GGUF fuzzer feeds a million mutated inputs this way without touching the disk).
    /// </summary>
    public static MappedFile FromBytes(byte[] bytes, string name)
    {
        if (bytes.Length == 0) return new MappedFile(name, 0, null, null, null);
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(bytes, System.Runtime.InteropServices.GCHandleType.Pinned);
        return new MappedFile(name, bytes.Length, null, null, (byte*)handle.AddrOfPinnedObject()) { _pinned = handle };
    }

    /// <summary>
    /// Tells the OS this process will not read the whole pages inside [offset, offset + length) again
    /// soon (madvise DONTNEED, Linux): they leave the process's resident set and are read back from the
    /// file if touched. Used when a copy in another layout replaces them (repacked weights), so the
    /// weights are not resident twice. A no-op for in-memory files and on other systems.
    /// </summary>
    public void Release(long offset, long length)
    {
        CheckRange(offset, 0);
        if (_map == null || !OperatingSystem.IsLinux() || length <= 0) return;
        long page = Environment.SystemPageSize;
        long start = ((long)_base + offset + page - 1) / page * page;
        long end = ((long)_base + Math.Min(Length, offset + length)) / page * page;
        if (end > start) _ = madvise((void*)start, (nuint)(end - start), 4 /* MADV_DONTNEED */);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int madvise(void* addr, nuint length, int advice);

    /// <summary>A span over [offset, offset + length); throws when the range leaves the file.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        CheckRange(offset, length);
        return length == 0 ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(_base + offset, length);
    }

    /// <summary>A memory over [offset, offset + length) that stays valid while this file is open.</summary>
    public ReadOnlyMemory<byte> Memory(long offset, int length)
    {
        CheckRange(offset, length);
        return length == 0 ? ReadOnlyMemory<byte>.Empty : new PointerMemoryManager(_base + offset, length).Memory;
    }

    /// <summary>Whether [offset, offset + length) lies inside the file.</summary>
    public bool Contains(long offset, long length) =>
        offset >= 0 && length >= 0 && offset <= Length && length <= Length - offset;

    private void CheckRange(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(_base == null && Length != 0, this);
        if (!Contains(offset, length))
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"range [{offset}, {offset}+{length}) lies outside '{Path}' ({Length} bytes)");
    }

    public void Dispose()
    {
        if (_view != null && _base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view?.Dispose();
        _map?.Dispose();
        if (_pinned.IsAllocated)
        {
            _pinned.Free();
            _base = null;
        }
    }

    private sealed class PointerMemoryManager(byte* pointer, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(pointer, length);
        public override MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex);
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
    }
}

using System.Runtime.InteropServices;

namespace Actors.Interop.Cuda;

/// <summary>
/// The retained primary context of one device (the context the CUDA runtime, and so cuBLAS, uses).
/// The current context is per OS thread: call <see cref="MakeCurrent"/> at the top of every batch of
/// driver calls made from the owning thread. Dispose releases the retain; dispose every buffer,
/// stream and module of the context first.
/// </summary>
public sealed class CudaContext : IDisposable
{
    public CudaDriver Driver { get; }
    public int Ordinal { get; }
    public int Device { get; }
    public IntPtr Handle { get; private set; }
    public CudaDeviceInfo Info { get; }

    private CudaContext(CudaDriver driver, int ordinal, int device, IntPtr handle, CudaDeviceInfo info)
    {
        Driver = driver;
        Ordinal = ordinal;
        Device = device;
        Handle = handle;
        Info = info;
    }

    /// <summary>Retains device <paramref name="ordinal"/>'s primary context and makes it current on this thread.</summary>
    public static CudaContext RetainPrimary(CudaDriver driver, int ordinal)
    {
        int count = driver.DeviceGetCount();
        if ((uint)ordinal >= (uint)count)
            throw new ArgumentOutOfRangeException(nameof(ordinal), $"CUDA device {ordinal} does not exist ({count} device(s): 0..{count - 1})");
        int device = driver.DeviceGet(ordinal);
        var info = driver.GetDeviceInfo(ordinal);
        IntPtr handle = driver.PrimaryCtxRetain(device);
        var ctx = new CudaContext(driver, ordinal, device, handle, info);
        ctx.MakeCurrent();
        return ctx;
    }

    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(Handle == IntPtr.Zero, this);
        Driver.CtxSetCurrent(Handle);
    }

    public void Synchronize()
    {
        MakeCurrent();
        Driver.CtxSynchronize();
    }

    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        return Driver.MemGetInfo();
    }

    /// <summary>Lets kernels and copies in this context read <paramref name="peer"/>'s memory directly.</summary>
    public void EnablePeerAccess(CudaContext peer)
    {
        MakeCurrent();
        Driver.CtxEnablePeerAccess(peer.Handle);
    }

    public void Dispose()
    {
        if (Handle == IntPtr.Zero) return;
        Handle = IntPtr.Zero;
        Driver.PrimaryCtxRelease(Device);
    }

    public override string ToString() => $"cuda:{Ordinal} ({Info.Name}, sm_{Info.ComputeMajor}{Info.ComputeMinor})";
}

/// <summary>A device allocation (cuMemAlloc_v2) owned by one context.</summary>
public sealed unsafe class DeviceBuffer : IDisposable
{
    public CudaContext Context { get; }
    public ulong Pointer { get; private set; }
    public long Bytes { get; }

    private DeviceBuffer(CudaContext context, ulong pointer, long bytes)
    {
        Context = context;
        Pointer = pointer;
        Bytes = bytes;
    }

    public static DeviceBuffer Allocate(CudaContext context, long bytes)
    {
        context.MakeCurrent();
        return new DeviceBuffer(context, context.Driver.MemAlloc(bytes), bytes);
    }

    /// <summary>The device address <paramref name="byteOffset"/> bytes in; throws when outside the buffer.</summary>
    public ulong At(long byteOffset)
    {
        ObjectDisposedException.ThrowIf(Pointer == 0, this);
        if ((ulong)byteOffset > (ulong)Bytes)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"offset {byteOffset} is outside a device buffer of {Bytes} bytes");
        return Pointer + (ulong)byteOffset;
    }

    private void CheckRange(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(Pointer == 0, this);
        if (offset < 0 || length < 0 || offset > Bytes || length > Bytes - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, {offset}+{length}) is outside a device buffer of {Bytes} bytes");
    }

    /// <summary>
    /// Copies from pageable host memory. The driver stages the bytes before returning, so the span may
    /// be reused at once; for overlap use a <see cref="PinnedHostBuffer"/> instead.
    /// </summary>
    public void Upload<T>(ReadOnlySpan<T> source, CudaStream stream, long byteOffset = 0) where T : unmanaged
    {
        long bytes = (long)source.Length * sizeof(T);
        CheckRange(byteOffset, bytes);
        if (bytes == 0) return;
        Context.MakeCurrent();
        fixed (T* p = source) Context.Driver.MemcpyHtoDAsync(Pointer + (ulong)byteOffset, p, bytes, stream.Handle);
    }

    /// <summary>Copies into pageable host memory; returns when the copy has finished.</summary>
    public void Download<T>(Span<T> destination, CudaStream stream, long byteOffset = 0) where T : unmanaged
    {
        long bytes = (long)destination.Length * sizeof(T);
        CheckRange(byteOffset, bytes);
        if (bytes == 0) return;
        Context.MakeCurrent();
        fixed (T* p = destination) Context.Driver.MemcpyDtoHAsync(p, Pointer + (ulong)byteOffset, bytes, stream.Handle);
        stream.Synchronize();
    }

    /// <summary>Copies device-to-device within one context (or between peers with unified addressing).</summary>
    public void CopyFrom(DeviceBuffer source, long sourceOffset, long destinationOffset, long bytes, CudaStream stream)
    {
        source.CheckRange(sourceOffset, bytes);
        CheckRange(destinationOffset, bytes);
        if (bytes == 0) return;
        Context.MakeCurrent();
        Context.Driver.MemcpyDtoDAsync(Pointer + (ulong)destinationOffset, source.Pointer + (ulong)sourceOffset, bytes, stream.Handle);
    }

    public void Fill(byte value, CudaStream stream, long byteOffset = 0, long bytes = -1)
    {
        if (bytes < 0) bytes = Bytes - byteOffset;
        CheckRange(byteOffset, bytes);
        if (bytes == 0) return;
        Context.MakeCurrent();
        Context.Driver.MemsetD8Async(Pointer + (ulong)byteOffset, value, bytes, stream.Handle);
    }

    public void Dispose()
    {
        if (Pointer == 0) return;
        ulong p = Pointer;
        Pointer = 0;
        Context.MakeCurrent();
        Context.Driver.MemFree(p);
    }
}

/// <summary>
/// Page-locked host memory (cuMemHostAlloc, PORTABLE: pinned for every context), the staging area
/// that lets host↔device copies run asynchronously and host-staged peer copies work across GPUs.
/// </summary>
public sealed unsafe class PinnedHostBuffer : IDisposable
{
    private readonly CudaContext _context;
    private byte* _pointer;

    public long Bytes { get; }

    private PinnedHostBuffer(CudaContext context, byte* pointer, long bytes)
    {
        _context = context;
        _pointer = pointer;
        Bytes = bytes;
    }

    public static PinnedHostBuffer Allocate(CudaContext context, long bytes)
    {
        context.MakeCurrent();
        return new PinnedHostBuffer(context, (byte*)context.Driver.MemHostAlloc(bytes, CudaDriver.MemHostAllocPortable), bytes);
    }

    private void CheckRange(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(_pointer == null, this);
        if (offset < 0 || length < 0 || offset > Bytes || length > Bytes - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, {offset}+{length}) is outside a pinned buffer of {Bytes} bytes");
    }

    /// <summary>A view of <paramref name="count"/> elements starting <paramref name="byteOffset"/> bytes in.</summary>
    public Span<T> AsSpan<T>(long byteOffset, int count) where T : unmanaged
    {
        CheckRange(byteOffset, (long)count * sizeof(T));
        return new Span<T>(_pointer + byteOffset, count);
    }

    /// <summary>Queues a copy of [offset, offset+bytes) of this buffer to device address <paramref name="destination"/>.</summary>
    public void CopyToDevice(long offset, ulong destination, long bytes, CudaStream stream)
    {
        CheckRange(offset, bytes);
        if (bytes == 0) return;
        stream.Context.MakeCurrent();
        stream.Context.Driver.MemcpyHtoDAsync(destination, _pointer + offset, bytes, stream.Handle);
    }

    /// <summary>Queues a copy from device address <paramref name="source"/> into [offset, offset+bytes) of this buffer.</summary>
    public void CopyFromDevice(ulong source, long offset, long bytes, CudaStream stream)
    {
        CheckRange(offset, bytes);
        if (bytes == 0) return;
        stream.Context.MakeCurrent();
        stream.Context.Driver.MemcpyDtoHAsync(_pointer + offset, source, bytes, stream.Handle);
    }

    public void Dispose()
    {
        if (_pointer == null) return;
        byte* p = _pointer;
        _pointer = null;
        _context.MakeCurrent();
        _context.Driver.MemFreeHost(p);
    }
}

/// <summary>A non-blocking stream (no implicit synchronisation with the NULL stream).</summary>
public sealed class CudaStream : IDisposable
{
    public CudaContext Context { get; }
    public IntPtr Handle { get; private set; }

    private CudaStream(CudaContext context, IntPtr handle)
    {
        Context = context;
        Handle = handle;
    }

    public static CudaStream Create(CudaContext context)
    {
        context.MakeCurrent();
        return new CudaStream(context, context.Driver.StreamCreate(CudaDriver.StreamNonBlocking));
    }

    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(Handle == IntPtr.Zero, this);
        Context.MakeCurrent();
        Context.Driver.StreamSynchronize(Handle);
    }

    /// <summary>Makes later work on this stream wait for <paramref name="ev"/> (which may belong to another stream).</summary>
    public void Wait(CudaEvent ev)
    {
        Context.MakeCurrent();
        Context.Driver.StreamWaitEvent(Handle, ev.Handle);
    }

    public void Dispose()
    {
        if (Handle == IntPtr.Zero) return;
        IntPtr h = Handle;
        Handle = IntPtr.Zero;
        Context.MakeCurrent();
        Context.Driver.StreamDestroy(h);
    }
}

/// <summary>A CUDA event, for ordering streams and timing work on the device.</summary>
public sealed class CudaEvent : IDisposable
{
    public CudaContext Context { get; }
    public IntPtr Handle { get; private set; }

    private CudaEvent(CudaContext context, IntPtr handle)
    {
        Context = context;
        Handle = handle;
    }

    public static CudaEvent Create(CudaContext context, bool timing = true)
    {
        context.MakeCurrent();
        return new CudaEvent(context, context.Driver.EventCreate(timing ? CudaDriver.EventDefault : CudaDriver.EventDisableTiming));
    }

    public void Record(CudaStream stream)
    {
        Context.MakeCurrent();
        Context.Driver.EventRecord(Handle, stream.Handle);
    }

    public void Synchronize()
    {
        Context.MakeCurrent();
        Context.Driver.EventSynchronize(Handle);
    }

    /// <summary>Milliseconds between two recorded, completed timing events.</summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        end.Synchronize();
        return end.Context.Driver.EventElapsedTime(start.Handle, end.Handle);
    }

    public void Dispose()
    {
        if (Handle == IntPtr.Zero) return;
        IntPtr h = Handle;
        Handle = IntPtr.Zero;
        Context.MakeCurrent();
        Context.Driver.EventDestroy(h);
    }
}

/// <summary>A loaded CUBIN (or PTX) module and the kernels looked up in it.</summary>
public sealed class CudaModule : IDisposable
{
    private readonly Dictionary<string, CudaFunction> _functions = new();

    public CudaContext Context { get; }
    public string Name { get; }
    public IntPtr Handle { get; private set; }

    private CudaModule(CudaContext context, string name, IntPtr handle)
    {
        Context = context;
        Name = name;
        Handle = handle;
    }

    /// <summary>Loads an image; <paramref name="name"/> (e.g. "rmsnorm.cu sm_86") appears in errors.</summary>
    public static CudaModule Load(CudaContext context, ReadOnlySpan<byte> image, string name)
    {
        context.MakeCurrent();
        return new CudaModule(context, name, context.Driver.ModuleLoadData(image, name));
    }

    /// <summary>The `extern "C"` kernel of that name; throws CUDA_ERROR_NOT_FOUND naming it when absent.</summary>
    public CudaFunction Function(string name)
    {
        ObjectDisposedException.ThrowIf(Handle == IntPtr.Zero, this);
        if (_functions.TryGetValue(name, out var f)) return f;
        Context.MakeCurrent();
        f = new CudaFunction(Context, Context.Driver.ModuleGetFunction(Handle, name), name);
        _functions[name] = f;
        return f;
    }

    public void Dispose()
    {
        if (Handle == IntPtr.Zero) return;
        IntPtr h = Handle;
        Handle = IntPtr.Zero;
        _functions.Clear();
        Context.MakeCurrent();
        Context.Driver.ModuleUnload(h);
    }
}

/// <summary>
/// One kernel. Every kernel of this project takes a single params struct by value, mirrored in C#
/// with <see cref="StructLayoutAttribute"/> Sequential, so a launch passes exactly one argument.
/// </summary>
public sealed unsafe class CudaFunction
{
    private int _maxDynamicShared = 48 * 1024;

    public CudaContext Context { get; }
    public IntPtr Handle { get; }
    public string Name { get; }

    internal CudaFunction(CudaContext context, IntPtr handle, string name)
    {
        Context = context;
        Handle = handle;
        Name = name;
    }

    /// <summary>Opts in to more than 48 KiB of dynamic shared memory (up to the device's opt-in limit).</summary>
    public void EnsureDynamicSharedMemory(int bytes)
    {
        if (bytes <= _maxDynamicShared) return;
        int limit = Context.Info.MaxSharedMemoryPerBlockOptin;
        if (bytes > limit)
            throw new CudaException($"{Name} needs {bytes:N0} bytes of shared memory per block, but {Context.Info.Name} allows at most {limit:N0}");
        Context.MakeCurrent();
        Context.Driver.FuncSetAttribute(Handle, CudaDriver.FuncAttributeMaxDynamicSharedSizeBytes, bytes, Name);
        _maxDynamicShared = bytes;
    }

    /// <summary>Queues the kernel on <paramref name="stream"/> with <paramref name="args"/> as its only parameter.</summary>
    public void Launch<T>(in LaunchConfig config, CudaStream stream, in T args) where T : unmanaged
    {
        if (config.Grid.Count == 0 || config.Block.Count == 0)
            throw new ArgumentException($"{Name}: empty launch {config}");
        EnsureDynamicSharedMemory((int)config.SharedBytes);
        T local = args;
        void* argument = &local;
        Context.Driver.LaunchKernel(Handle, config, stream.Handle, &argument, Name);
    }
}

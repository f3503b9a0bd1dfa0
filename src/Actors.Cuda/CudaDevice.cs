using Actors.Cuda.Compilation;
using Actors.Cuda.Kernels;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Interop.Cuda;

namespace Actors.Cuda;

/// <summary>Not enough free device memory for a stage; the message says how much was needed and how much is free.</summary>
public sealed class CudaOutOfMemoryException(string message, long neededBytes, long freeBytes, Exception? inner = null)
    : CudaException(message, inner)
{
    public long NeededBytes { get; } = neededBytes;
    public long FreeBytes { get; } = freeBytes;
}

/// <summary>
/// One CUDA GPU as an <see cref="IComputeDevice"/>: its retained primary context, the kernels of
/// kernels/*.cu compiled by NVRTC for the device's own architecture (cached on disk), and a cuBLAS
/// handle when cuBLAS can be loaded. Create it on the thread that will use it (the device actor's);
/// every call makes the context current on the calling thread first.
/// Creation fails with a <see cref="CudaException"/> reading "no CUDA device: &lt;reason&gt;" when the
/// probe finds none, and with a <see cref="NotSupportedException"/> naming the compute capability when
/// the GPU is too old for the kernels.
/// </summary>
public sealed class CudaDevice : IComputeDevice
{
    private readonly List<CudaStageExecutor> _stages = new();
    private readonly DeviceBuffer? _cublasWorkspace;
    private bool _disposed;

    public CudaContext Context { get; }
    public CudaDeviceInfo Info => Context.Info;
    public DeviceDescriptor Descriptor { get; }
    public CudaDeviceOptions Options { get; }
    public KernelCompiler Compiler { get; }
    public CompileTarget Target { get; }
    public CudaKernels Kernels { get; }
    /// <summary>cuBLAS, or null when it could not be loaded or was disabled (see <see cref="CublasStatus"/>).</summary>
    public Cublas? Cublas { get; }
    public IntPtr CublasHandle { get; }
    /// <summary>"cuBLAS 12 (libcublas.so.12)" or why it is not used.</summary>
    public string CublasStatus { get; }

    private CudaDevice(CudaAvailability availability, int ordinal, CudaDeviceOptions options)
    {
        Options = options;
        Context = CudaContext.RetainPrimary(availability.Driver!, ordinal);
        try
        {
            var nvrtc = Nvrtc.Load(availability.DriverMajor);
            Compiler = new KernelCompiler(nvrtc, KernelSources.Embedded, new CubinCache(options.CacheDirectory));
            Target = Compiler.TargetFor(Info.ComputeMajor, Info.ComputeMinor);
            Kernels = new CudaKernels(Context, Compiler, Target);
            Descriptor = new DeviceDescriptor($"cuda:{ordinal}", DeviceKind.Cuda, Info.Name, Info.TotalMemoryBytes);

            string error = "";
            if (options.UseCublas && Cublas.TryLoad(availability.DriverMajor, out var blas, out error))
            {
                Context.MakeCurrent();
                CublasHandle = blas!.Create();
                blas.SetMathMode(CublasHandle, Cublas.MathDefault);
                if (options.CublasWorkspaceBytes > 0)
                {
                    _cublasWorkspace = DeviceBuffer.Allocate(Context, options.CublasWorkspaceBytes);
                    blas.SetWorkspace(CublasHandle, _cublasWorkspace.Pointer, options.CublasWorkspaceBytes);
                }
                Cublas = blas;
                CublasStatus = $"cuBLAS {blas.Major} ({LoadedLibraries.PathOf("libcublas.so") ?? blas.LibraryName})";
            }
            else
            {
                CublasStatus = DescribeMissingCublas(options, error);
            }
        }
        catch
        {
            Kernels?.Dispose();
            Context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// What a device without cuBLAS says about it (pure): disabled by options, or not found, in which
    /// case <see cref="CudaDeviceOptions.RequireCublas"/> turns the fallback into an error.
    /// </summary>
    public static string DescribeMissingCublas(CudaDeviceOptions options, string loadError)
    {
        if (!options.UseCublas) return "cuBLAS disabled by options; large batches use the matvec kernels";
        if (options.RequireCublas)
            throw new CudaException($"{loadError}; cuBLAS is required (RequireCublas) so that batches above {options.MatvecMaxTokens} tokens run as GEMMs. " +
                $"Install it or point {CudaLibraryLocations.PathVariable} at the folder holding libcublas");
        return loadError + "; large batches use the matvec kernels";
    }

    /// <summary>
    /// Makes the cuBLAS handle enqueue on <paramref name="stream"/> and use the device's own workspace.
    /// cublasSetStream resets the workspace to cuBLAS's default pool (memory no stage plan counts), so
    /// the workspace is set again after every stream change.
    /// </summary>
    internal void BindCublas(CudaStream stream)
    {
        if (Cublas == null) return;
        Cublas.SetStream(CublasHandle, stream.Handle);
        if (_cublasWorkspace != null) Cublas.SetWorkspace(CublasHandle, _cublasWorkspace.Pointer, Options.CublasWorkspaceBytes);
    }

    /// <summary>Opens CUDA device <paramref name="ordinal"/> of the process-wide probe.</summary>
    public static CudaDevice Create(int ordinal = 0, CudaDeviceOptions? options = null) =>
        Create(CudaAvailability.Probe(), ordinal, options);

    /// <summary>Opens a device of a given probe result (tests pass an unavailable one).</summary>
    public static CudaDevice Create(CudaAvailability availability, int ordinal, CudaDeviceOptions? options = null)
    {
        options ??= new CudaDeviceOptions();
        options.Validate();
        if (!availability.IsAvailable || availability.Driver == null) throw new CudaException(availability.Message);
        if ((uint)ordinal >= (uint)availability.DeviceCount)
            throw new ArgumentOutOfRangeException(nameof(ordinal), $"CUDA device {ordinal} does not exist ({availability.DeviceCount} device(s): 0..{availability.DeviceCount - 1})");
        return new CudaDevice(availability, ordinal, options);
    }

    /// <summary>Like <see cref="Create(int, CudaDeviceOptions?)"/>, but false with the reason instead of throwing.</summary>
    public static bool TryCreate(int ordinal, out CudaDevice? device, out string reason, CudaDeviceOptions? options = null)
    {
        try
        {
            device = Create(ordinal, options);
            reason = "";
            return true;
        }
        catch (Exception e) when (e is CudaException or NotSupportedException or ArgumentException)
        {
            device = null;
            reason = e.Message;
            return false;
        }
    }

    private bool UseCublasFor(int maxBatchTokens) => Cublas != null && maxBatchTokens > Options.MatvecMaxTokens;

    public StageMemoryPlan PlanStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        StageMemoryPlan.Compute(model, layers, kv, maxBatchTokens, Options, UseCublasFor(maxBatchTokens));

    public long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        PlanStage(model, layers, kv, maxBatchTokens).TotalBytes;

    public IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        LoadCudaStage(model, layers, kv, maxBatchTokens);

    /// <summary>
    /// Uploads the stage's weights and allocates its KV pool and buffers. Fails before allocating
    /// anything when the plan does not fit the free memory, and names both numbers either way.
    /// </summary>
    public CudaStageExecutor LoadCudaStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CudaArchitectureSupport.Check(model.Config, model.Name);
        var plan = PlanStage(model, layers, kv, maxBatchTokens);
        var (free, total) = Context.MemoryInfo();
        string what = $"{model.Name} {layers} on {Descriptor.Id} ({Info.Name})";
        if (plan.TotalBytes > free)
            throw new CudaOutOfMemoryException(
                $"not enough GPU memory to load {what}: needs {plan.Describe()}, but only {StageMemoryPlan.Size(free)} of {StageMemoryPlan.Size(total)} is free",
                plan.TotalBytes, free);
        try
        {
            var stage = new CudaStageExecutor(this, model, layers, kv, maxBatchTokens, plan);
            _stages.Add(stage);
            return stage;
        }
        catch (CudaException e) when (e.IsOutOfMemory)
        {
            var (freeNow, _) = Context.MemoryInfo();
            throw new CudaOutOfMemoryException(
                $"ran out of GPU memory loading {what}: it needs {plan.Describe()}; {StageMemoryPlan.Size(free)} was free before loading and {StageMemoryPlan.Size(freeNow)} is free now",
                plan.TotalBytes, free, e);
        }
    }

    internal void Forget(CudaStageExecutor stage) => _stages.Remove(stage);

    public override string ToString() => $"{Descriptor.Id} {Info.Name} (sm_{Info.ComputeMajor}{Info.ComputeMinor}, {StageMemoryPlan.Size(Info.TotalMemoryBytes)}, kernels {Target}, {CublasStatus})";

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var stage in _stages.ToArray()) stage.Dispose();
        Context.MakeCurrent();
        if (Cublas != null && CublasHandle != IntPtr.Zero) Cublas.Destroy(CublasHandle);
        _cublasWorkspace?.Dispose();
        Kernels.Dispose();
        Context.Dispose();
    }
}

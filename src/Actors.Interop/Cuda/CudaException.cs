namespace Actors.Interop.Cuda;

/// <summary>Which native library a failed call belongs to.</summary>
public enum CudaApi
{
    Driver,
    Nvrtc,
    Cublas,
    Nvml,
}

/// <summary>
/// A failed CUDA driver, NVRTC, cuBLAS or NVML call. The message names the call, the status name and
/// number and the library's own description, e.g.
/// "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory"; NVRTC failures append the
/// compiler log.
/// </summary>
public class CudaException : Exception
{
    public CudaApi Api { get; }
    /// <summary>The native function that failed (its exact export name), or an operation name.</summary>
    public string Call { get; }
    /// <summary>The raw status (CUresult, nvrtcResult, cublasStatus_t, nvmlReturn_t); 0 when not from a status.</summary>
    public int Code { get; }
    public string ErrorName { get; }
    public string? Log { get; }

    public CudaException(CudaApi api, string call, int code, string errorName, string? description, string? log = null, string? context = null)
        : base(Format(call, code, errorName, description, log, context))
    {
        Api = api;
        Call = call;
        Code = code;
        ErrorName = errorName;
        Log = log;
    }

    /// <summary>A failure that is not a status code (a missing library or export, a bad argument found by the wrapper).</summary>
    public CudaException(string message, Exception? inner = null) : base(message, inner)
    {
        Call = "";
        ErrorName = "";
    }

    /// <summary>Whether this is the driver's CUDA_ERROR_OUT_OF_MEMORY.</summary>
    public bool IsOutOfMemory => Api == CudaApi.Driver && Code == 2;

    /// <summary>
    /// Whether the driver reported a sticky error (illegal address, illegal instruction, misaligned
    /// address, launch failure, ...): the context is then unusable and every later call in this
    /// process fails the same way, so only a new process can use the device again.
    /// </summary>
    public bool IsContextLost => Api == CudaApi.Driver && Code is 700 or 702 or (>= 714 and <= 719);

    public static string Format(string call, int code, string errorName, string? description, string? log = null, string? context = null)
    {
        string text = $"{call} failed: {errorName} ({code})";
        if (!string.IsNullOrEmpty(description) && description != errorName) text += ": " + description;
        if (!string.IsNullOrEmpty(context)) text += " [" + context + "]";
        if (!string.IsNullOrWhiteSpace(log)) text += Environment.NewLine + log.TrimEnd();
        return text;
    }
}

namespace Actors.Inference.Compute;

/// <summary>
/// A device fault after which the device cannot be trusted again in this process (like a CUDA
/// context lost to an illegal address): the runtime takes the device, and every replica with a stage
/// on it, out of service rather than retrying. Backends throw it (or an exception that
/// <see cref="DeviceFaults.IsSticky"/> recognises) from a stage's work.
/// </summary>
public sealed class StickyDeviceFaultException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Which device failures are sticky (the device stays broken) rather than one failed step.</summary>
public static class DeviceFaults
{
    /// <summary>True for <see cref="StickyDeviceFaultException"/> and a CUDA driver error that loses the context, here or among the inner exceptions.</summary>
    public static bool IsSticky(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
            if (e is StickyDeviceFaultException or Interop.Cuda.CudaException { IsContextLost: true }) return true;
        return false;
    }
}

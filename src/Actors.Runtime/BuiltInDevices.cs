using Actors.Cuda;
using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Runtime.Configuration;

namespace Actors.Runtime;

/// <summary>
/// The device kinds the runtime opens by itself from configuration, in any host (the CLI, an ASP.NET app,
/// a plain actor system): <c>kind = cpu</c> and <c>kind = cuda</c> with id <c>cuda:N</c>. A factory in
/// <see cref="RuntimeSetup.DeviceFactories"/> replaces the built-in one of its kind.
/// </summary>
public static class BuiltInDevices
{
    /// <summary>The built-in factory of a kind, or null (simulated devices come from Actors.Simulation).</summary>
    public static DeviceFactory? For(DeviceKind kind) => kind switch
    {
        DeviceKind.Cpu => Cpu,
        DeviceKind.Cuda => Cuda,
        _ => null,
    };

    public static IComputeDevice Cpu(DeviceOptions o) => new CpuDevice(o.Id, o.Threads);

    /// <summary>"cuda:N" opens CUDA device N (the ordinal as CUDA numbers them), kernels compiled for it by NVRTC.</summary>
    public static IComputeDevice Cuda(DeviceOptions o) => CudaDevice.Create(CudaOrdinal(o.Id));

    /// <summary>N of "cuda:N"; anything else is a configuration error naming the id.</summary>
    public static int CudaOrdinal(string id)
    {
        string[] parts = id.Split(':');
        if (parts.Length != 2 || parts[0] != "cuda" || !int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int ordinal))
            throw new InvalidConfigurationException($"device \"{id}\": a CUDA device id is cuda:N with N its CUDA ordinal (cuda:0, cuda:1, ...)");
        return ordinal;
    }
}

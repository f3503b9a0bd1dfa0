using Actors.Inference.Compute;
using Actors.Runtime;
using Actors.Runtime.Configuration;
using Actors.Simulation;
using Actors.Simulation.Catalog;

namespace Actors.Cli;

/// <summary>The device kinds the CLI can create beyond the runtime's built-in CPU devices.</summary>
public static class DeviceFactories
{
    public static IReadOnlyDictionary<DeviceKind, DeviceFactory> All() => new Dictionary<DeviceKind, DeviceFactory>
    {
        [DeviceKind.Simulated] = Simulated,
        [DeviceKind.Cuda] = Cuda,
    };

    /// <summary>"cuda:N" opens CUDA device N (ordinal as CUDA numbers them).</summary>
    private static IComputeDevice Cuda(DeviceOptions o)
    {
        string[] parts = o.Id.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[1], out int ordinal) || ordinal < 0)
            throw new InvalidConfigurationException($"device \"{o.Id}\": a CUDA device id is cuda:N with N its CUDA ordinal");
        return Actors.Cuda.CudaDevice.Create(ordinal);
    }

    private static IComputeDevice Simulated(DeviceOptions o)
    {
        try
        {
            return new SimulatedDevice(o.Id, HardwareCatalog.Default.Gpu(o.Spec));
        }
        catch (CatalogException ex)
        {
            throw new InvalidConfigurationException($"device \"{o.Id}\": {ex.Message}");
        }
    }
}

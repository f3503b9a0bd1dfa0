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
    };

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

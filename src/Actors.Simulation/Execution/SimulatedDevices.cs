using Actors.Inference.Compute;
using Actors.Runtime;
using Actors.Runtime.Configuration;
using Actors.Simulation.Catalog;

namespace Actors.Simulation;

/// <summary>
/// The factory of <c>kind = simulated</c> devices (a GPU of the hardware catalog by its <c>spec</c>), for
/// <see cref="RuntimeSetup.DeviceFactories"/> (<c>[DeviceKind.Simulated] = SimulatedDevices.Create</c>).
/// </summary>
public static class SimulatedDevices
{
    public static IComputeDevice Create(DeviceOptions o)
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

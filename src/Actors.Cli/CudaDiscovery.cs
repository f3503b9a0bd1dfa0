namespace Actors.Cli;

/// <summary>Lists discovered CUDA devices for `actors topology` (filled in by the CUDA backend).</summary>
public static class CudaDiscovery
{
    public static IEnumerable<string> Describe()
    {
        var probe = Actors.Interop.Cuda.CudaAvailability.Probe();
        if (!probe.IsAvailable)
        {
            yield return $"  CUDA: {probe.Message}";
            yield break;
        }
        foreach (var line in Actors.Cuda.Topology.CudaTopology.Discover(probe).Format().Split('\n')) yield return "  " + line;
    }
}

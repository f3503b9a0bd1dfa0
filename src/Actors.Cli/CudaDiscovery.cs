namespace Actors.Cli;

/// <summary>Lists discovered CUDA devices for `actors topology` (filled in by the CUDA backend).</summary>
public static class CudaDiscovery
{
    public static IEnumerable<string> Describe()
    {
        yield break;
    }
}

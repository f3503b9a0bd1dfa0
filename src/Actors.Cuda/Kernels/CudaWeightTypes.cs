using Actors.Inference.Model;

namespace Actors.Cuda.Kernels;

/// <summary>Load-time check that every weight of a stage has CUDA kernels (the CPU backend reads more types).</summary>
public static class CudaWeightTypes
{
    /// <summary>Throws <see cref="NotSupportedException"/> naming the first tensor whose type has no CUDA kernels.</summary>
    public static void EnsureSupported(string modelName, IEnumerable<WeightMatrix> matrices)
    {
        foreach (var m in matrices)
            if (Array.IndexOf(KernelNames.WeightTypes, m.Type) < 0)
                throw new NotSupportedException(
                    $"{modelName}: tensor '{m.Name}' has type {m.Type}, which the CUDA backend has no kernels for " +
                    $"(CUDA supports {string.Join(", ", KernelNames.WeightTypes)})");
    }
}

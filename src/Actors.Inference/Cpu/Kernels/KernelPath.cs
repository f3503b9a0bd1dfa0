using System.Runtime.Intrinsics.X86;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>Which instruction-set flavour of the matmul kernels runs.</summary>
public enum KernelPath
{
    /// <summary>The best path this CPU supports.</summary>
    Auto = 0,
    /// <summary>AVX-512 F/BW/VBMI (512-bit integer dot products, vpermb nibble unpacking).</summary>
    Avx512 = 1,
    /// <summary>AVX2 + FMA (256-bit).</summary>
    Avx2 = 2,
    /// <summary>Vector128 / scalar code that runs anywhere (also ARM).</summary>
    Portable = 3,
}

/// <summary>
/// Chooses the kernel path at run time. Results are bit-identical for one path whatever the batch
/// and the row split; different paths may differ in the last bits (different reduction trees), so a
/// process should not switch paths while it serves (<see cref="Default"/> is read once per call).
/// </summary>
public static class KernelDispatch
{
    /// <summary>The best path the CPU supports.</summary>
    public static KernelPath Best { get; } =
        Avx512F.IsSupported && Avx512BW.IsSupported && Avx512Vbmi.IsSupported && Avx512DQ.IsSupported ? KernelPath.Avx512
        : Avx2.IsSupported && Fma.IsSupported ? KernelPath.Avx2
        : KernelPath.Portable;

    /// <summary>
    /// The path <see cref="MatMul"/> uses; tests and benchmarks force a path here (or pass one to the
    /// internal overloads, which is safe when tests run in parallel).
    /// </summary>
    internal static KernelPath Default { get; set; } = KernelPath.Auto;

    /// <summary>Resolves Auto and refuses a path the CPU cannot run.</summary>
    internal static KernelPath Resolve(KernelPath p)
    {
        if (p == KernelPath.Auto) p = Default == KernelPath.Auto ? Best : Default;
        if (!IsSupported(p)) throw new PlatformNotSupportedException($"kernel path {p} is not supported on this CPU");
        return p;
    }

    public static bool IsSupported(KernelPath p) => p switch
    {
        KernelPath.Auto or KernelPath.Portable => true,
        KernelPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        KernelPath.Avx512 => Best == KernelPath.Avx512,
        _ => false,
    };
}

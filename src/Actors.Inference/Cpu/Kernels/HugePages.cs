using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Transparent huge pages for the repacked weights, opt-in (<c>ACTORS_CPU_HUGEPAGES=1</c>). A one-token decode
/// streams every weight byte once per token (hundreds of MB): on 4 KiB pages that is a TLB miss every 4 KiB of
/// each thread's stream, and where THP is in <c>madvise</c> mode (the usual default) memory gets 2 MiB pages only
/// when asked (madvise MADV_HUGEPAGE) before its first touch. Measured on this project's VM: the repacked Q8_0
/// tile streams 5-10 % faster from DRAM on huge pages, but first touching 616 MB of them took 6-9 s against
/// 1-1.3 s for 4 KiB pages (the hypervisor backs each fresh 2 MiB page; the guest returns free ones to it), so
/// model load would pay far more than decode gains (docs/benchmarks.md, "Fresh-process decode"). A no-op off
/// Linux, and where the kernel refuses.
/// </summary>
internal static class HugePages
{
    /// <summary>The huge page size (x86-64, PMD level).</summary>
    public const int Size = 2 * 1024 * 1024;

    /// <summary>Whether repacked weights ask for huge pages (<c>ACTORS_CPU_HUGEPAGES=1</c>, Linux only).</summary>
    /// Read on first use (a bad value fails the stage load with its own message); tests and benchmarks may set it.
    public static bool Enabled
    {
        get => _enabled ??= OperatingSystem.IsLinux() && Parse(Environment.GetEnvironmentVariable("ACTORS_CPU_HUGEPAGES"));
        set => _enabled = value;
    }
    private static bool? _enabled;

    /// <summary>$ACTORS_CPU_HUGEPAGES: 1/on, 0/off or unset; anything else is refused by name.</summary>
    internal static bool Parse(string? v) => v switch
    {
        null or "" or "0" or "off" => false,
        "1" or "on" => true,
        _ => throw new ArgumentException($"ACTORS_CPU_HUGEPAGES: '{v}' is not 1/on or 0/off"),
    };

    /// <summary>Asks for huge pages on the whole 2 MiB pages inside [start, start + bytes) (Linux only).</summary>
    public static unsafe void Advise(ref byte start, long bytes)
    {
        if (!OperatingSystem.IsLinux()) return;
        long first = ((long)(nint)Unsafe.AsPointer(ref start) + Size - 1) / Size * Size;
        long end = ((long)(nint)Unsafe.AsPointer(ref start) + bytes) / Size * Size;
        if (end > first) _ = madvise((void*)first, (nuint)(end - first), 14 /* MADV_HUGEPAGE */);
    }

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern unsafe int madvise(void* addr, nuint length, int advice);
}

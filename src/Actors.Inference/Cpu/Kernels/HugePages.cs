using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Transparent huge pages for the repacked weights. A one-token decode streams every weight byte once per
/// token (hundreds of MB): on 4 KiB pages that is a TLB miss every 4 KiB of each thread's stream. Where THP
/// is in <c>madvise</c> mode (the usual default), memory gets 2 MiB pages only when asked
/// (madvise MADV_HUGEPAGE) before its first touch; the repacked copy is written right after allocation,
/// so asking in its constructor is enough. A no-op off Linux, and where the kernel refuses.
/// </summary>
internal static class HugePages
{
    /// <summary>The huge page size (x86-64, PMD level).</summary>
    public const int Size = 2 * 1024 * 1024;

    /// <summary>Whether to ask for huge pages (Linux only; <c>ACTORS_CPU_HUGEPAGES=0</c> turns it off for comparisons).</summary>
    public static readonly bool Enabled = OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("ACTORS_CPU_HUGEPAGES") != "0";

    /// <summary>Asks for huge pages on the whole 2 MiB pages inside [start, start + bytes).</summary>
    public static unsafe void Advise(ref byte start, long bytes)
    {
        if (!Enabled) return;
        long first = ((long)(nint)Unsafe.AsPointer(ref start) + Size - 1) / Size * Size;
        long end = ((long)(nint)Unsafe.AsPointer(ref start) + bytes) / Size * Size;
        if (end > first) _ = madvise((void*)first, (nuint)(end - first), 14 /* MADV_HUGEPAGE */);
    }

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern unsafe int madvise(void* addr, nuint length, int advice);
}

using System.Globalization;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// Repacked weights of at least one huge page start on a 2 MiB boundary and ask the kernel for transparent huge
/// pages (a one-token decode streams them all every token; 4 KiB pages cost a TLB miss every 4 KiB).
/// </summary>
public class HugePagesTests
{
    [Fact]
    public void A_large_repacked_copy_starts_on_a_huge_page_and_is_advised_for_huge_pages()
    {
        if (!RepackedQ8_0.IsSupported || !HugePages.Enabled) return;
        const int rows = 2048, cols = 2048; // 4.5 MiB repacked
        var bytes = new byte[rows * (cols / 32) * 34];
        var random = new Random(3);
        for (int b = 0; b < bytes.Length; b += 34)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(b), BitConverter.HalfToUInt16Bits((Half)(random.NextSingle() * 0.01f + 0.001f)));
            random.NextBytes(bytes.AsSpan(b + 2, 32));
        }
        var w = new WeightMatrix("w", GgmlType.Q8_0, rows, cols, TensorSource.FromArray(bytes));
        var repacked = RepackedQ8_0.Create(w)!;
        Assert.Equal(0, repacked.Address % HugePages.Size);
        if (!File.Exists("/sys/kernel/mm/transparent_hugepage/enabled")) return; // no THP in this kernel
        var flags = VmFlags(repacked.Address);
        Assert.Contains("hg", flags); // MADV_HUGEPAGE took effect on the mapping that holds the copy
        GC.KeepAlive(repacked);
    }

    /// <summary>The VmFlags of the mapping in /proc/self/smaps that contains <paramref name="address"/>.</summary>
    private static string[] VmFlags(nint address)
    {
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out ulong start)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, null, out ulong end))
            {
                inside = (ulong)address >= start && (ulong)address < end;
                continue;
            }
            if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
                return line["VmFlags:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
        throw new InvalidOperationException($"no mapping holds 0x{address:x} in /proc/self/smaps");
    }
}

using System.Globalization;
using System.Runtime.InteropServices;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// With ACTORS_CPU_HUGEPAGES=1, repacked weights of at least one huge page start on a 2 MiB boundary and ask the
/// kernel for transparent huge pages (a one-token decode streams them all every token).
/// </summary>
public class HugePagesTests
{
    [Fact]
    public void Advising_marks_the_whole_huge_pages_of_a_range_for_huge_pages()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/sys/kernel/mm/transparent_hugepage/enabled")) return; // no THP here
        var array = GC.AllocateUninitializedArray<byte>(3 * HugePages.Size, pinned: true);
        HugePages.Advise(ref array[0], array.Length);
        nint address = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        nint inside = (address + HugePages.Size - 1) / HugePages.Size * HugePages.Size;
        Assert.Contains("hg", VmFlags(inside));
        GC.KeepAlive(array);
    }

    [Fact]
    public void A_large_repacked_copy_starts_on_a_huge_page_when_huge_pages_are_on()
    {
        if (!RepackedQ8_0.IsSupported || !OperatingSystem.IsLinux() || !File.Exists("/sys/kernel/mm/transparent_hugepage/enabled")) return;
        bool saved = HugePages.Enabled;
        HugePages.Enabled = true; // as ACTORS_CPU_HUGEPAGES=1 would (the alignment changes nothing else for tests running beside)
        try { LargeCopyStartsOnAHugePage(); }
        finally { HugePages.Enabled = saved; }
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("0", false)]
    [InlineData("off", false)]
    [InlineData("1", true)]
    [InlineData("on", true)]
    public void The_setting_reads_1_on_0_off(string? value, bool enabled) => Assert.Equal(enabled, HugePages.Parse(value));

    [Fact]
    public void A_bad_setting_is_refused_by_name() =>
        Assert.Contains("'yes'", Assert.Throws<ArgumentException>(() => HugePages.Parse("yes")).Message);

    private static void LargeCopyStartsOnAHugePage()
    {
        const int rows = 2048, cols = 2048; // 4.5 MiB repacked
        var bytes = new byte[rows * (cols / 32) * 34];
        var random = new Random(3);
        for (int b = 0; b < bytes.Length; b += 34)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(b), BitConverter.HalfToUInt16Bits((Half)(random.NextSingle() * 0.01f + 0.001f)));
            random.NextBytes(bytes.AsSpan(b + 2, 32));
        }
        var repacked = RepackedQ8_0.Create(new WeightMatrix("w", GgmlType.Q8_0, rows, cols, TensorSource.FromArray(bytes)))!;
        Assert.Equal(0, repacked.Address % HugePages.Size);
        Assert.Contains("hg", VmFlags(repacked.Address));
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

using System.Buffers.Binary;
using System.Text;

namespace Actors.Cuda.Compilation;

/// <summary>What the ELF header and section table of a CUBIN say.</summary>
public sealed record CubinInfo(uint Flags, IReadOnlyList<string> SectionNames, byte AbiVersion = 0)
{
    /// <summary>The ELF ABI version (e_ident[EI_ABIVERSION]) from which CUDA ELFs use the second byte of e_flags for the SM.</summary>
    public const byte SmInSecondByteAbi = 8;

    /// <summary>Kernel names: every `.text.&lt;name&gt;` section holds one function's SASS.</summary>
    public IEnumerable<string> Functions => SectionNames.Where(n => n.StartsWith(".text.", StringComparison.Ordinal)).Select(n => n[6..]);

    /// <summary>
    /// The SM number the CUBIN was built for. Up to CUDA 12 (ELF ABI version 7) it is the low byte of
    /// e_flags (0x56 = sm_86, 0x5a = sm_90, measured on NVRTC 11.8); CUDA 13 writes ABI version 8,
    /// which moves it to bits 8-15 and uses the low byte for other flags.
    /// </summary>
    public int Sm => (int)(AbiVersion >= SmInSecondByteAbi ? (Flags >> 8) & 0xFF : Flags & 0xFF);

    /// <summary>Whether the CUBIN is for sm_<paramref name="sm"/> (see <see cref="Sm"/>).</summary>
    public bool TargetsSm(int sm) => Sm == sm;
}

/// <summary>A minimal reader of CUBIN files (ELF64, little-endian, machine EM_CUDA = 190); pure.</summary>
public static class CubinInspector
{
    public const ushort MachineCuda = 190;

    /// <summary>Parses the header and section names; throws <see cref="InvalidDataException"/> saying what is wrong.</summary>
    public static CubinInfo Read(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < 64) throw new InvalidDataException($"a CUBIN must be an ELF64 file, but this is only {elf.Length} bytes");
        if (elf[0] != 0x7F || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file (bad magic)");
        if (elf[4] != 2) throw new InvalidDataException($"ELF class {elf[4]} is not ELF64 (2)");
        if (elf[5] != 1) throw new InvalidDataException($"ELF data encoding {elf[5]} is not little-endian (1)");
        ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(elf[18..]);
        if (machine != MachineCuda) throw new InvalidDataException($"ELF machine {machine} is not EM_CUDA ({MachineCuda})");
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(elf[48..]);
        byte abi = elf[8];
        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(elf[40..]);
        ushort shentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf[58..]);
        ushort shnum = BinaryPrimitives.ReadUInt16LittleEndian(elf[60..]);
        ushort shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(elf[62..]);
        var names = new List<string>();
        if (shnum == 0) return new CubinInfo(flags, names, abi);
        if (shentsize < 64 || shstrndx >= shnum || shoff > (ulong)elf.Length || (ulong)shnum * shentsize > (ulong)elf.Length - shoff)
            throw new InvalidDataException($"ELF section table ({shnum} entries of {shentsize} bytes at {shoff}) lies outside the {elf.Length}-byte file");

        var strtab = elf.Slice((int)shoff + shstrndx * shentsize, shentsize);
        ulong strOffset = BinaryPrimitives.ReadUInt64LittleEndian(strtab[24..]);
        ulong strSize = BinaryPrimitives.ReadUInt64LittleEndian(strtab[32..]);
        if (strOffset > (ulong)elf.Length || strSize > (ulong)elf.Length - strOffset)
            throw new InvalidDataException("ELF section-name table lies outside the file");
        var strings = elf.Slice((int)strOffset, (int)strSize);
        for (int i = 0; i < shnum; i++)
        {
            uint nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(elf[((int)shoff + i * shentsize)..]);
            if (nameOffset >= strings.Length) continue;
            var rest = strings[(int)nameOffset..];
            int end = rest.IndexOf((byte)0);
            names.Add(Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]));
        }
        return new CubinInfo(flags, names, abi);
    }

    /// <summary>Checks arch and kernel names; throws <see cref="InvalidDataException"/> listing what is missing.</summary>
    public static CubinInfo Verify(ReadOnlySpan<byte> cubin, int sm, IEnumerable<string> expectedFunctions, string what)
    {
        var info = Read(cubin);
        if (!info.TargetsSm(sm))
            throw new InvalidDataException($"{what}: CUBIN is for sm_{info.Sm} (e_flags 0x{info.Flags:X}, ELF ABI version {info.AbiVersion}), not sm_{sm}");
        var present = info.Functions.ToHashSet(StringComparer.Ordinal);
        var missing = expectedFunctions.Where(f => !present.Contains(f)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{what}: CUBIN lacks {string.Join(", ", missing)} (has {string.Join(", ", present.Order())})");
        return info;
    }
}

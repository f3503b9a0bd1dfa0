using System.Buffers.Binary;
using System.Text;
using Actors.Interop;

namespace Actors.Inference.Gguf;

/// <summary>
/// Parses a GGUF file (versions 2 and 3, little-endian) from a memory map.
///
/// Byte layout:
///  1. magic "GGUF" (4 bytes)
///  2. version u32 (2 or 3; v1 used u32 counts and is refused)
///  3. tensor_count u64
///  4. metadata_kv_count u64
///  5. metadata_kv_count times: key (string), value_type u32, value
///       string = u64 byte length + UTF-8 bytes (no NUL)
///       array  = element type u32 + count u64 + elements (arrays may nest)
///  6. tensor_count times: name (string), n_dims u32 (≤ 4), ne[n_dims] u64, type u32, offset u64
///       (offset relative to the data section, a multiple of the alignment)
///  7. padding to general.alignment (default 32)
///  8. data section: each tensor's bytes, each padded to the alignment
///
/// Every count, length and offset is checked against the bytes that remain before it is used, so a
/// corrupted count cannot cause a huge allocation or a read past the end.
/// </summary>
public static class GgufReader
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian u32
    public const int DefaultAlignment = 32;
    public const int MaxDims = 4;
    public const int MaxTensorNameBytes = 64; // GGML_MAX_NAME: names must be shorter
    private const int MaxArrayNesting = 8;

    public static GgufFile Read(string path) => Read(MappedFile.Open(path));

    /// <summary>Parses GGUF bytes already in memory (<paramref name="name"/> stands for the file in messages).</summary>
    public static GgufFile Read(byte[] bytes, string name) => Read(MappedFile.FromBytes(bytes, name));

    private static GgufFile Read(MappedFile mapped)
    {
        try
        {
            return Parse(mapped);
        }
        catch
        {
            mapped.Dispose();
            throw;
        }
    }

    private static GgufFile Parse(MappedFile file)
    {
        var c = new Cursor(file);
        if (file.Length < 24)
            throw c.Error($"file is {file.Length} bytes, too short for a GGUF header (24 bytes)");
        uint magic = c.U32("magic");
        if (magic != Magic)
            throw c.Error($"not a GGUF file: magic is 0x{magic:X8}, expected 0x{Magic:X8} (\"GGUF\")");
        uint version = c.U32("version");
        if (version == 1)
            throw c.Error("GGUF version 1 is not supported (versions 2 and 3 are)");
        if (version != 2 && version != 3)
        {
            uint swapped = BinaryPrimitives.ReverseEndianness(version);
            throw c.Error(swapped is 2 or 3
                ? "big-endian GGUF files are not supported"
                : $"unsupported GGUF version {version} (versions 2 and 3 are supported)");
        }

        long tensorCount = c.Count("tensor_count", minBytesEach: 8 + 4 + 4 + 8);
        long kvCount = c.Count("metadata_kv_count", minBytesEach: 8 + 4 + 1);

        var keys = new List<string>((int)Math.Min(kvCount, 4096));
        var metadata = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        for (long i = 0; i < kvCount; i++)
        {
            string key = c.String($"key of metadata entry {i}");
            if (key.Length == 0) throw c.Error($"metadata entry {i} has an empty key");
            var type = c.ValueType($"type of metadata '{key}'");
            var value = c.Value(type, key, 0);
            if (!metadata.TryAdd(key, value)) throw c.Error($"duplicate metadata key '{key}'");
            keys.Add(key);
        }

        int alignment = DefaultAlignment;
        if (metadata.TryGetValue("general.alignment", out var alignValue))
        {
            if (alignValue.Type != GgufValueType.UInt32 || alignValue.Value is not uint a)
                throw c.Error($"general.alignment must be a u32, found {alignValue.Type}");
            if (a == 0 || (a & (a - 1)) != 0 || a > 1 << 20)
                throw c.Error($"general.alignment {a} is not a power of two up to 1 MiB");
            alignment = (int)a;
        }

        var tensors = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 65536));
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++)
        {
            string name = c.String($"name of tensor {i}");
            if (Encoding.UTF8.GetByteCount(name) >= MaxTensorNameBytes)
                throw c.Error($"tensor {i} name '{name}' is {Encoding.UTF8.GetByteCount(name)} bytes; names must be shorter than {MaxTensorNameBytes}");
            if (!names.Add(name)) throw c.Error($"duplicate tensor name '{name}'");
            uint nDims = c.U32($"n_dims of tensor '{name}'");
            if (nDims > MaxDims) throw c.Error($"tensor '{name}' has {nDims} dimensions; at most {MaxDims} are allowed");
            var dims = new long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++)
            {
                ulong ne = c.U64($"ne[{d}] of tensor '{name}'");
                if (ne == 0 || ne > long.MaxValue)
                    throw c.Error($"tensor '{name}' dimension {d} is {ne}");
                dims[d] = (long)ne;
                if (elements > long.MaxValue / dims[d])
                    throw c.Error($"tensor '{name}' shape [{string.Join(", ", dims.Take(d + 1))}] overflows 64 bits");
                elements *= dims[d];
            }
            uint typeId = c.U32($"type of tensor '{name}'");
            var type = (GgmlType)typeId;
            if (typeId >= GgmlTypeInfo.Count || !GgmlTypeInfo.TryGetLayout(type, out int blockSize, out int blockBytes))
                throw c.Error($"tensor '{name}' has unknown ggml type id {typeId}");
            long rowLength = nDims > 0 ? dims[0] : 1;
            if (rowLength % blockSize != 0)
                throw c.Error($"tensor '{name}' of type {type} has ne[0] = {rowLength}, not a multiple of the block size {blockSize}");
            long blocks = elements / blockSize;
            if (blocks > long.MaxValue / blockBytes)
                throw c.Error($"tensor '{name}' byte size overflows 64 bits");
            long byteSize = blocks * blockBytes;
            ulong offset = c.U64($"offset of tensor '{name}'");
            if (offset % (ulong)alignment != 0)
                throw c.Error($"tensor '{name}' offset {offset} is not a multiple of the alignment {alignment}");
            if (offset > long.MaxValue)
                throw c.Error($"tensor '{name}' offset {offset} is out of range");
            tensors.Add(new GgufTensorInfo(name, type, dims, (long)offset, byteSize));
        }

        long dataOffset = AlignUp(c.Position, alignment);
        foreach (var t in tensors)
        {
            if (!file.Contains(dataOffset + t.RelativeOffset, t.ByteSize) || t.RelativeOffset > file.Length)
                throw new GgufFormatException(
                    $"{Path.GetFileName(file.Path)}: tensor '{t.Name}' ({t.Type} {t.ShapeText}, {t.ByteSize} bytes at data offset {t.RelativeOffset}) " +
                    $"extends past the end of the file ({file.Length} bytes): the file is truncated or corrupt");
        }
        CheckNoOverlap(file, tensors, alignment);
        return new GgufFile(file, version, alignment, dataOffset, keys, metadata, tensors);
    }

    private static void CheckNoOverlap(MappedFile file, List<GgufTensorInfo> tensors, int alignment)
    {
        var sorted = tensors.OrderBy(t => t.RelativeOffset).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            var prev = sorted[i - 1];
            if (prev.RelativeOffset + prev.ByteSize > sorted[i].RelativeOffset)
                throw new GgufFormatException(
                    $"{Path.GetFileName(file.Path)}: tensor '{prev.Name}' ({prev.Type} {prev.ShapeText}) needs {prev.ByteSize} bytes for its type and shape " +
                    $"but the next tensor, '{sorted[i].Name}', starts {sorted[i].RelativeOffset - prev.RelativeOffset} bytes after it: the two overlap in the data section");
        }
    }

    public static long AlignUp(long x, long alignment) => x + (alignment - x % alignment) % alignment;

    /// <summary>A bounds-checked reading position in the mapped file.</summary>
    private struct Cursor(MappedFile file)
    {
        public long Position;
        private long Remaining => file.Length - Position;

        public readonly GgufFormatException Error(string message) =>
            new($"{Path.GetFileName(file.Path)}: {message} (at byte {Position})");

        private ReadOnlySpan<byte> Take(int n, string what)
        {
            if (n > Remaining)
                throw Error($"file ends while reading {what}: needs {n} bytes, {Remaining} left (truncated file?)");
            var span = file.Span(Position, n);
            Position += n;
            return span;
        }

        public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
        public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

        /// <summary>A u64 count that must fit in the bytes that remain, given the least bytes each item takes.</summary>
        public long Count(string what, long minBytesEach)
        {
            ulong n = U64(what);
            if (n > (ulong)Math.Max(0, Remaining) / (ulong)minBytesEach)
                throw Error($"{what} is {n}, but only {Remaining} bytes remain (truncated file or corrupt count?)");
            return (long)n;
        }

        public string String(string what)
        {
            ulong len = U64($"length of {what}");
            if (len > (ulong)Math.Max(0, Remaining))
                throw Error($"{what} claims {len} bytes, but only {Remaining} bytes remain (corrupt length?)");
            if (len > int.MaxValue) throw Error($"{what} is {len} bytes long");
            var bytes = Take((int)len, what);
            try
            {
                return StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw Error($"{what} is not valid UTF-8");
            }
        }

        public GgufValueType ValueType(string what)
        {
            uint t = U32(what);
            if (t > (uint)GgufValueType.Float64) throw Error($"{what} is an unknown value type id {t}");
            return (GgufValueType)t;
        }

        public GgufValue Value(GgufValueType type, string key, int depth)
        {
            switch (type)
            {
                case GgufValueType.UInt8: return new(type, Take(1, key)[0]);
                case GgufValueType.Int8: return new(type, (sbyte)Take(1, key)[0]);
                case GgufValueType.UInt16: return new(type, BinaryPrimitives.ReadUInt16LittleEndian(Take(2, key)));
                case GgufValueType.Int16: return new(type, BinaryPrimitives.ReadInt16LittleEndian(Take(2, key)));
                case GgufValueType.UInt32: return new(type, BinaryPrimitives.ReadUInt32LittleEndian(Take(4, key)));
                case GgufValueType.Int32: return new(type, BinaryPrimitives.ReadInt32LittleEndian(Take(4, key)));
                case GgufValueType.Float32: return new(type, BinaryPrimitives.ReadSingleLittleEndian(Take(4, key)));
                case GgufValueType.UInt64: return new(type, BinaryPrimitives.ReadUInt64LittleEndian(Take(8, key)));
                case GgufValueType.Int64: return new(type, BinaryPrimitives.ReadInt64LittleEndian(Take(8, key)));
                case GgufValueType.Float64: return new(type, BinaryPrimitives.ReadDoubleLittleEndian(Take(8, key)));
                case GgufValueType.Bool:
                {
                    byte b = Take(1, key)[0];
                    if (b > 1) throw Error($"metadata '{key}' is a bool with byte value {b} (must be 0 or 1)");
                    return new(type, b == 1);
                }
                case GgufValueType.String: return new(type, String($"metadata '{key}'"));
                case GgufValueType.Array: return Array(key, depth);
                default: throw Error($"metadata '{key}' has unknown value type {(uint)type}");
            }
        }

        private GgufValue Array(string key, int depth)
        {
            if (depth >= MaxArrayNesting) throw Error($"metadata '{key}' nests arrays deeper than {MaxArrayNesting}");
            var elementType = ValueType($"element type of array '{key}'");
            long count = Count($"element count of array '{key}'", MinBytes(elementType));
            int n = (int)count;
            object items = elementType switch
            {
                GgufValueType.UInt8 => Take(n, key).ToArray(),
                GgufValueType.Int8 => ToArray<sbyte>(n, 1, key),
                GgufValueType.UInt16 => ToArray<ushort>(n, 2, key),
                GgufValueType.Int16 => ToArray<short>(n, 2, key),
                GgufValueType.UInt32 => ToArray<uint>(n, 4, key),
                GgufValueType.Int32 => ToArray<int>(n, 4, key),
                GgufValueType.Float32 => ToArray<float>(n, 4, key),
                GgufValueType.UInt64 => ToArray<ulong>(n, 8, key),
                GgufValueType.Int64 => ToArray<long>(n, 8, key),
                GgufValueType.Float64 => ToArray<double>(n, 8, key),
                GgufValueType.Bool => BoolArray(n, key),
                GgufValueType.String => StringArray(n, key),
                GgufValueType.Array => NestedArray(n, key, depth),
                _ => throw Error($"array '{key}' has unknown element type"),
            };
            return new GgufValue(GgufValueType.Array, items, elementType);
        }

        private T[] ToArray<T>(int n, int size, string key) where T : unmanaged
        {
            var bytes = Take(checked(n * size), key);
            var result = new T[n];
            bytes.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.AsSpan()));
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
            return result;
        }

        private bool[] BoolArray(int n, string key)
        {
            var bytes = Take(n, key);
            var result = new bool[n];
            for (int i = 0; i < n; i++)
            {
                if (bytes[i] > 1) throw Error($"array '{key}' element {i} is a bool with byte value {bytes[i]}");
                result[i] = bytes[i] == 1;
            }
            return result;
        }

        private string[] StringArray(int n, string key)
        {
            var result = new string[n];
            for (int i = 0; i < n; i++) result[i] = String($"element {i} of array '{key}'");
            return result;
        }

        private GgufValue[] NestedArray(int n, string key, int depth)
        {
            var result = new GgufValue[n];
            for (int i = 0; i < n; i++)
            {
                var t = ValueType($"element {i} of array '{key}'");
                if (t != GgufValueType.Array) throw Error($"array '{key}' declared nested arrays but element {i} is {t}");
                result[i] = Array(key, depth + 1);
            }
            return result;
        }

        private static long MinBytes(GgufValueType t) => t switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => 8,
        };
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);
}

using Actors.Interop;

namespace Actors.Inference.Gguf;

/// <summary>
/// An opened GGUF file: metadata, tensor infos and zero-copy tensor views into the memory map.
/// Parsing and every bounds check live in <see cref="GgufReader"/>.
/// </summary>
public sealed class GgufFile : IDisposable
{
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;

    public string Path => Mapped.Path;
    public uint Version { get; }
    public int Alignment { get; }
    /// <summary>Absolute file offset where the data section starts.</summary>
    public long DataOffset { get; }
    public IReadOnlyDictionary<string, GgufValue> Metadata { get; }
    public IReadOnlyList<string> MetadataKeys { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    internal MappedFile Mapped { get; }

    internal GgufFile(MappedFile mapped, uint version, int alignment, long dataOffset,
        IReadOnlyList<string> keys, IReadOnlyDictionary<string, GgufValue> metadata, IReadOnlyList<GgufTensorInfo> tensors)
    {
        Mapped = mapped;
        Version = version;
        Alignment = alignment;
        DataOffset = dataOffset;
        MetadataKeys = keys;
        Metadata = metadata;
        Tensors = tensors;
        _tensorsByName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public static GgufFile Open(string path) => GgufReader.Read(path);

    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw new GgufFormatException($"{System.IO.Path.GetFileName(Path)}: tensor '{name}' is missing");

    /// <summary>Absolute file offset of a tensor's first byte.</summary>
    public long AbsoluteOffset(GgufTensorInfo tensor) => DataOffset + tensor.RelativeOffset;

    /// <summary>A zero-copy view of [offset, offset+length) relative to a tensor's first byte.</summary>
    public ReadOnlySpan<byte> TensorSpan(GgufTensorInfo tensor, long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > tensor.ByteSize)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, +{length}) outside tensor '{tensor.Name}' ({tensor.ByteSize} bytes)");
        return Mapped.Span(AbsoluteOffset(tensor) + offset, length);
    }

    /// <summary>The whole tensor as memory (tensors over 2 GiB must be read by row ranges instead).</summary>
    public ReadOnlyMemory<byte> TensorMemory(GgufTensorInfo tensor)
    {
        if (tensor.ByteSize > int.MaxValue)
            throw new NotSupportedException($"tensor '{tensor.Name}' is {tensor.ByteSize} bytes; read it by row ranges");
        return Mapped.Memory(AbsoluteOffset(tensor), (int)tensor.ByteSize);
    }

    public bool TryGet(string key, out GgufValue value) => Metadata.TryGetValue(key, out value!);

    public string? GetString(string key) => Metadata.TryGetValue(key, out var v) ? v.Value as string : null;

    public string RequireString(string key) =>
        GetString(key) ?? throw Missing(key, "a string");

    public long? GetInt(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        if (v.TryGetInt64(out long l)) return l;
        throw new GgufFormatException($"{FileName}: metadata '{key}' should be an integer but is {v.Type}");
    }

    public long RequireInt(string key) => GetInt(key) ?? throw Missing(key, "an integer");

    public double? GetFloat(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        if (v.TryGetDouble(out double d)) return d;
        throw new GgufFormatException($"{FileName}: metadata '{key}' should be a number but is {v.Type}");
    }

    public bool? GetBool(string key) => Metadata.TryGetValue(key, out var v) && v.Value is bool b ? b : null;

    /// <summary>An array value of the given .NET element type, or null when absent.</summary>
    public T[]? GetArray<T>(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        return v.Value as T[] ?? throw new GgufFormatException(
            $"{FileName}: metadata '{key}' should be an array of {typeof(T).Name} but is {v.Type}{(v.IsArray ? " of " + v.ElementType : "")}");
    }

    private string FileName => System.IO.Path.GetFileName(Path);

    private GgufFormatException Missing(string key, string what) =>
        new($"{FileName}: metadata '{key}' is missing (expected {what})");

    public void Dispose() => Mapped.Dispose();
}

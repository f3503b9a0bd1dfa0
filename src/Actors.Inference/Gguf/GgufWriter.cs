using System.Buffers.Binary;
using System.Text;

namespace Actors.Inference.Gguf;

/// <summary>
/// Writes GGUF files (the layout documented on <see cref="GgufReader"/>): metadata in insertion
/// order, then tensor infos, then the aligned data section. Used by the test-model generator.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, GgufValue Value)> _metadata = new();
    private readonly List<(string Name, GgmlType Type, long[] Dims, byte[] Data)> _tensors = new();

    public uint Version { get; init; } = 3;
    public int Alignment { get; init; } = GgufReader.DefaultAlignment;

    public GgufWriter Add(string key, GgufValueType type, object value)
    {
        _metadata.Add((key, new GgufValue(type, value)));
        return this;
    }

    public GgufWriter AddString(string key, string value) => Add(key, GgufValueType.String, value);
    public GgufWriter AddUInt32(string key, uint value) => Add(key, GgufValueType.UInt32, value);
    public GgufWriter AddFloat32(string key, float value) => Add(key, GgufValueType.Float32, value);
    public GgufWriter AddBool(string key, bool value) => Add(key, GgufValueType.Bool, value);

    public GgufWriter AddArray(string key, GgufValueType elementType, Array values)
    {
        _metadata.Add((key, new GgufValue(GgufValueType.Array, values, elementType)));
        return this;
    }

    /// <summary>Adds a tensor; <paramref name="dims"/> in ggml order (dims[0] contiguous).</summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] dims, byte[] data)
    {
        long elements = dims.Aggregate(1L, (a, b) => a * b);
        long expected = GgmlTypeInfo.RowBytes(type, dims[0]) * (elements / dims[0]);
        if (expected != data.LongLength)
            throw new ArgumentException($"tensor '{name}' {type} [{string.Join(", ", dims)}] needs {expected} bytes, got {data.LongLength}");
        _tensors.Add((name, type, dims, data));
        return this;
    }

    public void Write(string path)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        string tmp = path + ".tmp-" + Environment.ProcessId + "-" + Environment.CurrentManagedThreadId;
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            Write(fs);
        File.Move(tmp, path, overwrite: true); // atomic: readers never see a half-written model
    }

    public void Write(Stream stream)
    {
        var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufReader.Magic);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }
        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (int i = 0; i < _tensors.Count; i++)
        {
            offsets[i] = offset;
            offset = GgufReader.AlignUp(offset + _tensors[i].Data.LongLength, Alignment);
        }
        for (int i = 0; i < _tensors.Count; i++)
        {
            var (name, type, dims, _) = _tensors[i];
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (long d in dims) w.Write((ulong)d);
            w.Write((uint)type);
            w.Write((ulong)offsets[i]);
        }
        w.Flush();
        Pad(stream, GgufReader.AlignUp(stream.Position, Alignment) - stream.Position);
        long dataStart = stream.Position;
        for (int i = 0; i < _tensors.Count; i++)
        {
            Pad(stream, dataStart + offsets[i] - stream.Position);
            stream.Write(_tensors[i].Data);
        }
        Pad(stream, GgufReader.AlignUp(stream.Position - dataStart, Alignment) - (stream.Position - dataStart));
        stream.Flush();
    }

    private static void Pad(Stream s, long n)
    {
        for (long i = 0; i < n; i++) s.WriteByte(0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValue v)
    {
        if (v.Type == GgufValueType.Array)
        {
            var items = (Array)v.Value;
            w.Write((uint)v.ElementType);
            w.Write((ulong)items.Length);
            foreach (var item in items)
            {
                if (v.ElementType == GgufValueType.Array)
                {
                    var inner = (GgufValue)item!;
                    w.Write((uint)GgufValueType.Array);
                    WriteValue(w, inner);
                }
                else WriteScalar(w, v.ElementType, item!);
            }
        }
        else WriteScalar(w, v.Type, v.Value);
    }

    private static void WriteScalar(BinaryWriter w, GgufValueType t, object value)
    {
        switch (t)
        {
            case GgufValueType.UInt8: w.Write(Convert.ToByte(value)); break;
            case GgufValueType.Int8: w.Write(Convert.ToSByte(value)); break;
            case GgufValueType.UInt16: w.Write(Convert.ToUInt16(value)); break;
            case GgufValueType.Int16: w.Write(Convert.ToInt16(value)); break;
            case GgufValueType.UInt32: w.Write(Convert.ToUInt32(value)); break;
            case GgufValueType.Int32: w.Write(Convert.ToInt32(value)); break;
            case GgufValueType.Float32: w.Write(Convert.ToSingle(value)); break;
            case GgufValueType.UInt64: w.Write(Convert.ToUInt64(value)); break;
            case GgufValueType.Int64: w.Write(Convert.ToInt64(value)); break;
            case GgufValueType.Float64: w.Write(Convert.ToDouble(value)); break;
            case GgufValueType.Bool: w.Write((byte)((bool)value ? 1 : 0)); break;
            case GgufValueType.String: WriteString(w, (string)value); break;
            default: throw new ArgumentException($"cannot write {t} as a scalar");
        }
    }
}

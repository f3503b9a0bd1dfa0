using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;

namespace Actors.Inference.Tests.Gguf;

public sealed class GgufRoundTripTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-rt").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(2u)]
    [InlineData(3u)]
    public void Every_metadata_value_type_round_trips(uint version)
    {
        var w = new GgufWriter { Version = version, Alignment = 64 };
        w.Add("t.u8", GgufValueType.UInt8, (byte)200)
         .Add("t.i8", GgufValueType.Int8, (sbyte)-100)
         .Add("t.u16", GgufValueType.UInt16, (ushort)60000)
         .Add("t.i16", GgufValueType.Int16, (short)-30000)
         .Add("t.u32", GgufValueType.UInt32, 4000000000u)
         .Add("t.i32", GgufValueType.Int32, -2000000000)
         .Add("t.f32", GgufValueType.Float32, 3.25f)
         .Add("t.bool", GgufValueType.Bool, true)
         .Add("t.str", GgufValueType.String, "héllo ✓")
         .Add("t.u64", GgufValueType.UInt64, ulong.MaxValue - 5)
         .Add("t.i64", GgufValueType.Int64, long.MinValue + 7)
         .Add("t.f64", GgufValueType.Float64, Math.PI)
         .AddUInt32("general.alignment", 64)
         .AddArray("t.arr_f32", GgufValueType.Float32, new[] { 1.5f, -2f, 1e-7f })
         .AddArray("t.arr_str", GgufValueType.String, new[] { "a", "", "▁the" })
         .AddArray("t.arr_i16", GgufValueType.Int16, new short[] { -1, 2, 3 })
         .AddArray("t.arr_bool", GgufValueType.Bool, new[] { true, false })
         .AddArray("t.nested", GgufValueType.Array, new[]
         {
             new GgufValue(GgufValueType.Array, new uint[] { 1, 2 }, GgufValueType.UInt32),
             new GgufValue(GgufValueType.Array, new uint[] { 3 }, GgufValueType.UInt32),
         });
        var data = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        w.AddTensor("a", GgmlType.F32, [4, 4], data);
        w.AddTensor("b", GgmlType.Q8_0, [32], new byte[34]);
        string path = Path.Combine(_dir, "all.gguf");
        w.Write(path);

        using var f = GgufFile.Open(path);
        Assert.Equal(version, f.Version);
        Assert.Equal(64, f.Alignment);
        Assert.Equal((byte)200, f.Metadata["t.u8"].Value);
        Assert.Equal((sbyte)-100, f.Metadata["t.i8"].Value);
        Assert.Equal((ushort)60000, f.Metadata["t.u16"].Value);
        Assert.Equal((short)-30000, f.Metadata["t.i16"].Value);
        Assert.Equal(4000000000u, f.Metadata["t.u32"].Value);
        Assert.Equal(-2000000000, f.Metadata["t.i32"].Value);
        Assert.Equal(3.25f, f.Metadata["t.f32"].Value);
        Assert.Equal(true, f.Metadata["t.bool"].Value);
        Assert.Equal("héllo ✓", f.GetString("t.str"));
        Assert.Equal(ulong.MaxValue - 5, f.Metadata["t.u64"].Value);
        Assert.Equal(long.MinValue + 7, f.Metadata["t.i64"].Value);
        Assert.Equal(Math.PI, f.Metadata["t.f64"].Value);
        Assert.Equal(new[] { 1.5f, -2f, 1e-7f }, f.GetArray<float>("t.arr_f32"));
        Assert.Equal(new[] { "a", "", "▁the" }, f.GetArray<string>("t.arr_str"));
        Assert.Equal(new short[] { -1, 2, 3 }, f.GetArray<short>("t.arr_i16"));
        Assert.Equal(new[] { true, false }, f.GetArray<bool>("t.arr_bool"));
        var nested = f.GetArray<GgufValue>("t.nested")!;
        Assert.Equal(new uint[] { 1, 2 }, nested[0].Value);
        Assert.Equal(new uint[] { 3 }, nested[1].Value);
        var a = f.GetTensor("a");
        Assert.Equal(new long[] { 4, 4 }, a.Dims);
        Assert.Equal(0, f.AbsoluteOffset(a) % 64);
        Assert.Equal(data, f.TensorMemory(a).ToArray());
        Assert.Equal(GgmlType.Q8_0, f.GetTensor("b").Type);
        Assert.Equal(0, f.GetTensor("b").RelativeOffset % 64);
    }

    [Fact]
    public void Counts_written_as_u32_or_u64_both_read_as_integers()
    {
        var w = new GgufWriter();
        w.AddUInt32("llama.block_count", 4).Add("llama.context_length", GgufValueType.UInt64, 2048UL);
        string path = Path.Combine(_dir, "widths.gguf");
        w.Write(path);
        using var f = GgufFile.Open(path);
        Assert.Equal(4, f.GetInt("llama.block_count"));
        Assert.Equal(2048, f.GetInt("llama.context_length"));
    }

    [Fact]
    public void Generated_model_tensors_are_zero_copy_views_of_the_file()
    {
        string path = Path.Combine(_dir, "m.gguf");
        SyntheticModelGenerator.Write(path, new SyntheticModelSpec { WeightType = "Q8_0", Dim = 64, Ffn = 128 });
        using var f = GgufFile.Open(path);
        var t = f.GetTensor("blk.0.attn_q.weight");
        var bytes = File.ReadAllBytes(path);
        Assert.True(f.TensorSpan(t, 0, (int)t.ByteSize).SequenceEqual(bytes.AsSpan((int)f.AbsoluteOffset(t), (int)t.ByteSize)));
    }
}

using System.Buffers.Binary;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;

namespace Actors.Inference.Tests.Gguf;

/// <summary>Truncated, corrupted and unsupported files give a clear error naming the problem; nothing else escapes.</summary>
public sealed class GgufMalformedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-bad").FullName;
    private readonly byte[] _good;

    public GgufMalformedTests()
    {
        string path = Path.Combine(_dir, "good.gguf");
        SyntheticModelGenerator.Write(path, new SyntheticModelSpec { Dim = 64, Ffn = 128, Vocab = 300, WeightType = "Q8_0" });
        _good = File.ReadAllBytes(path);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(byte[] bytes, string name = "bad.gguf")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private GgufFormatException Fails(byte[] bytes) => Assert.Throws<GgufFormatException>(() => GgufFile.Open(Write(bytes)).Dispose());

    [Fact]
    public void Wrong_magic_is_named()
    {
        var b = (byte[])_good.Clone();
        b[0] = (byte)'X';
        Assert.Contains("not a GGUF file", Fails(b).Message);
    }

    [Fact]
    public void Version_1_and_unknown_versions_are_refused_by_number()
    {
        var b = (byte[])_good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 1);
        Assert.Contains("version 1", Fails(b).Message);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 7);
        Assert.Contains("unsupported GGUF version 7", Fails(b).Message);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 0x03000000);
        Assert.Contains("big-endian", Fails(b).Message);
    }

    [Fact]
    public void A_corrupted_tensor_count_is_caught_before_any_allocation()
    {
        var b = (byte[])_good.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), ulong.MaxValue / 3);
        var ex = Fails(b);
        Assert.Contains("tensor_count", ex.Message);
        Assert.Contains("corrupt count", ex.Message);
    }

    [Fact]
    public void A_corrupted_metadata_count_is_caught()
    {
        var b = (byte[])_good.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), 1UL << 40);
        Assert.Contains("metadata_kv_count", Fails(b).Message);
    }

    [Fact]
    public void A_corrupted_string_length_is_caught()
    {
        var b = (byte[])_good.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), 1UL << 50); // length of the first key
        Assert.Contains("corrupt length", Fails(b).Message);
    }

    [Fact]
    public void Every_truncation_fails_with_a_format_error()
    {
        // Every cut in the header region, then a stride through the data section.
        var cuts = Enumerable.Range(0, 4096).Where(i => i < _good.Length)
            .Concat(Enumerable.Range(0, 64).Select(i => 4096 + (int)((long)(_good.Length - 4097) * i / 64)));
        foreach (int cut in cuts.Distinct())
        {
            string path = Write(_good[..cut], "trunc.gguf");
            var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
            Assert.False(string.IsNullOrWhiteSpace(ex.Message));
        }
    }

    [Fact]
    public void Random_byte_corruption_never_escapes_as_anything_but_a_clear_error()
    {
        var rng = new DeterministicRandom(42);
        for (int trial = 0; trial < 400; trial++)
        {
            var b = (byte[])_good.Clone();
            int flips = 1 + rng.NextInt(4);
            for (int i = 0; i < flips; i++) b[rng.NextInt(Math.Min(b.Length, 8192))] = (byte)rng.NextUInt64();
            string path = Write(b, "fuzz.gguf");
            try
            {
                using var model = LlamaModel.Open(path);
            }
            catch (Exception ex) when (ex is GgufFormatException or ModelFormatException)
            {
                Assert.False(string.IsNullOrWhiteSpace(ex.Message));
            }
        }
    }

    [Fact]
    public void Unknown_tensor_type_and_bad_alignment_are_named()
    {
        var w = new GgufWriter();
        w.AddTensor("x", GgmlType.F32, [8], new byte[32]);
        string path = Path.Combine(_dir, "t.gguf");
        w.Write(path);
        var b = File.ReadAllBytes(path);
        // The tensor info ends with: type u32, offset u64.
        int typeAt = 24 + 8 + 1 + 4 + 8;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(typeAt), 4); // a removed type id
        Assert.Contains("unknown ggml type id 4", Fails(b).Message);

        var w2 = new GgufWriter();
        w2.Add("general.alignment", GgufValueType.UInt32, 48u);
        Assert.Contains("not a power of two", Assert.Throws<GgufFormatException>(() => { w2.Write(path); GgufFile.Open(path).Dispose(); }).Message);
    }

    [Fact]
    public void Row_length_not_a_multiple_of_the_block_size_is_named()
    {
        var w = new GgufWriter();
        w.AddTensor("x", GgmlType.F32, [40], new byte[160]);
        string path = Path.Combine(_dir, "rows.gguf");
        w.Write(path);
        var b = File.ReadAllBytes(path);
        int typeAt = 24 + 8 + 1 + 4 + 8;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(typeAt), (uint)GgmlType.Q8_0);
        Assert.Contains("not a multiple of the block size 32", Fails(b).Message);
    }

    [Theory]
    [InlineData(GgmlType.Q5_0)]   // 22 bytes per 32 values where Q4_0 had 18
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.IQ4_NL)] // same block bytes: this one is well-formed
    public void A_tensor_whose_type_needs_more_bytes_than_its_slot_is_named(GgmlType claimed)
    {
        // Two Q4_0 tensors back to back; the first one's type is then rewritten.
        var w = new GgufWriter();
        w.AddTensor("a", GgmlType.Q4_0, [256, 4], new byte[4 * 8 * 18]);
        w.AddTensor("b", GgmlType.Q4_0, [256, 4], new byte[4 * 8 * 18]);
        string path = Path.Combine(_dir, "slot.gguf");
        w.Write(path);
        var b = File.ReadAllBytes(path);
        // The first tensor info: name "a" (u64 length + 1 byte), n_dims u32, two u64 dims, then type u32.
        int typeAt = 24 + 8 + 1 + 4 + 16;
        Assert.Equal((uint)GgmlType.Q4_0, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(typeAt)));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(typeAt), (uint)claimed);
        if (GgmlTypeInfo.BlockBytes(claimed) == 18)
        {
            using var ok = GgufFile.Open(Write(b));
            Assert.Equal(claimed, ok.Tensors[0].Type);
            return;
        }
        string message = Fails(b).Message;
        Assert.Contains("tensor 'a'", message);
        Assert.Contains(claimed.ToString(), message);
        Assert.DoesNotContain('\n', message);
    }
}

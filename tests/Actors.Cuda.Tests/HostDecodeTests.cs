using Actors.Inference.Gguf;
using Actors.Inference.Quantization;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>
/// The block decoders of kernels/ggml_groups.cuh (the ones the matvec, dequant and embedding kernels run)
/// built for the host and compared bit for bit with the C# reference decoders (ggml's dequantize_row_*,
/// element by element) on random blocks: every bit random but sane f16 scales, and every bit random
/// including the scales (subnormal, infinite and NaN scales too).
/// </summary>
public class HostDecodeTests
{
    internal static readonly Lazy<string> Harness = new(() => HostCompiler.Build(
        Path.Combine("HostDecode", "decode_groups.cpp"),
        "-std=c++17", "-O2", "-ffp-contract=off", "-fno-strict-aliasing", "-Wall", "-Wextra", "-Wno-unknown-pragmas"));

    public static TheoryData<GgmlType> GroupTypes() =>
        new(Kernels.KernelNames.WeightTypes.Where(Kernels.KernelNames.DecodesInGroups));

    [HostCompilerTheory]
    [MemberData(nameof(GroupTypes))]
    public void Group_decoders_match_the_reference_decoder_bit_for_bit_on_random_blocks(GgmlType type)
    {
        const int blocks = 200;
        var bytes = new byte[blocks * GgmlTypeInfo.BlockBytes(type)];
        RandomBlocks.Fill(type, bytes, seed: 11 + (ulong)type);
        AssertHostDecodesLikeReference(type, bytes, "random blocks with sane scales");
    }

    [HostCompilerTheory]
    [MemberData(nameof(GroupTypes))]
    public void Group_decoders_match_the_reference_decoder_when_every_bit_is_random(GgmlType type)
    {
        const int blocks = 200;
        var bytes = new byte[blocks * GgmlTypeInfo.BlockBytes(type)];
        new Random(97 + (int)type).NextBytes(bytes);
        AssertHostDecodesLikeReference(type, bytes, "blocks of random bits");
    }

    [HostCompilerTheory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.F32)]
    public void The_harness_refuses_a_type_it_does_not_decode_in_groups(GgmlType type)
    {
        var (code, _, err) = HostCompiler.Run(Harness.Value, [((int)type).ToString()], new byte[GgmlTypeInfo.BlockBytes(type)]);
        Assert.Equal(2, code);
        Assert.Contains("not a group type", err);
    }

    /// <summary>The harness decodes <paramref name="bytes"/> (whole blocks of <paramref name="type"/>) to exactly the reference's floats, group by group and element by element.</summary>
    internal static void AssertHostDecodesLikeReference(GgmlType type, byte[] bytes, string what)
    {
        int cols = bytes.Length / GgmlTypeInfo.BlockBytes(type) * GgmlTypeInfo.BlockSize(type);
        var expected = new float[cols];
        ReferenceQuantizer.Dequantize(type, bytes, expected);

        var (code, stdout, err) = HostCompiler.Run(Harness.Value, [((int)type).ToString()], bytes);
        Assert.True(code == 0, $"decode_groups {type} exited {code}: {err}");
        Assert.Equal(2 * 4 * cols, stdout.Length);
        var actual = new float[2 * cols];
        Buffer.BlockCopy(stdout, 0, actual, 0, stdout.Length);
        int finite = 0;
        for (int pass = 0; pass < 2; pass++)
        for (int e = 0; e < cols; e++)
        {
            float a = actual[pass * cols + e], x = expected[e];
            if (float.IsNaN(x) && float.IsNaN(a)) continue;
            finite++;
            if (BitConverter.SingleToUInt32Bits(a) != BitConverter.SingleToUInt32Bits(x))
                Assert.Fail($"{type} ({what}), {(pass == 0 ? "decode8_row" : "group_element")}: value {e} (block {e / GgmlTypeInfo.BlockSize(type)}) " +
                            $"is {a:R} (0x{BitConverter.SingleToUInt32Bits(a):X8}), the reference decodes {x:R} (0x{BitConverter.SingleToUInt32Bits(x):X8})");
        }
        Assert.True(finite > cols, $"{type}: too few non-NaN values to compare ({finite})");
        Assert.Contains(expected, v => v != 0 && float.IsFinite(v));
    }
}

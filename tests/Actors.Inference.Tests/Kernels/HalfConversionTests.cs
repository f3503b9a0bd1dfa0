using System.Runtime.Intrinsics;
using Actors.Inference.Cpu.Kernels;

namespace Actors.Inference.Tests.Kernels;

/// <summary>Every one of the 65,536 half bit patterns converts as .NET's own Half does, in every vector form.</summary>
public class HalfConversionTests
{
    private static void Check(ushort bits, float actual, bool finiteOnly, string form)
    {
        float expected = (float)BitConverter.UInt16BitsToHalf(bits);
        if (float.IsNaN(expected))
        {
            if (finiteOnly) Assert.True(float.IsFinite(actual) && MathF.Abs(actual) >= 65536, $"{form} 0x{bits:X4}: {actual}");
            else Assert.True(float.IsNaN(actual), $"{form} 0x{bits:X4}: {actual}, expected NaN");
            return;
        }
        if (float.IsInfinity(expected) && finiteOnly)
        {
            Assert.True(float.IsFinite(actual) && MathF.Abs(actual) >= 65536 && MathF.Sign(actual) == MathF.Sign(expected), $"{form} 0x{bits:X4}: {actual}");
            return;
        }
        // Bit-exact, so -0 stays -0 and every subnormal is exact.
        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"{form} 0x{bits:X4}: {actual}, expected {expected}");
    }

    [Fact]
    public void Every_half_converts_exactly_in_every_form()
    {
        for (int b = 0; b < 65536; b += 16)
        {
            var u = new uint[16];
            var s = new int[16];
            for (int i = 0; i < 16; i++) { u[i] = (uint)(b + i); s[i] = (short)(b + i); }
            var su = Vector512.Create(s);
            var f512 = HalfConversion.FromSignExtended(su);
            var f512Finite = HalfConversion.FromSignExtendedFinite(su);
            var z512 = HalfConversion.ToSingle(Vector512.Create(u));
            var f256Finite = HalfConversion.FromSignExtendedFinite(Vector256.Create(s.AsSpan(0, 8)));
            var z256 = HalfConversion.ToSingle(Vector256.Create(u.AsSpan(8, 8)));
            var z128 = HalfConversion.ToSingle(Vector128.Create(u.AsSpan(4, 4)));
            for (int i = 0; i < 16; i++)
            {
                ushort bits = (ushort)(b + i);
                Check(bits, f512[i], false, "FromSignExtended");
                Check(bits, f512Finite[i], true, "FromSignExtendedFinite");
                Check(bits, z512[i], false, "ToSingle(512)");
                Check(bits, HalfConversion.ToSingle(bits), false, "ToSingle(scalar)");
                if (i < 8) Check(bits, f256Finite[i], true, "FromSignExtendedFinite(256)");
                if (i >= 8) Check(bits, z256[i - 8], false, "ToSingle(256)");
                if (i >= 4 && i < 8) Check(bits, z128[i - 4], false, "ToSingle(128)");
            }
        }
    }
}

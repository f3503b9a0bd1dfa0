// ggml_groups.cuh: decoders of the ggml block types read eight values at a time ("groups"), as
// `__host__ __device__` functions so that the same text is compiled by NVRTC for the kernels and by
// the system C++ compiler for a host test that compares every decoded float bit for bit with the C#
// reference decoders (tests/Actors.Cuda.Tests/HostDecodeTests.cs, harness HostDecode/decode_groups.cpp).
// Expects u8, i8, u16 and u32 to be defined (common.cuh, or the host harness); includes nothing.
//
// decode8_<type>(blk, g, v): v[i] = value 8g + i of the block at blk (g < block elements / 8), with
// the float operations in ggml's dequantize_row_* order (scale products first, then y = dl*q - ml),
// and never fused (grp_mul_add), so device and host both produce ggml's floats exactly.
//
// Block layouts (ggml-common.h; offsets in bytes, f16 fields little endian). Rows start 16-byte aligned
// (each weight is its own allocation), so a field is as aligned as its offset in the row allows; the
// decoders load the quant bytes eight at a time with the widest load that alignment permits.
//   Q4_1   20 B / 32:  d@0 m@2 qs[16]@4               y = d*q + m; q = nibble (low: 0..15, high: 16..31)
//   Q5_0   22 B / 32:  d@0 qh[4]@2 qs[16]@6           y = d*(q - 16); q = nibble | bit e of qh << 4
//   Q5_1   24 B / 32:  d@0 m@2 qh[4]@4 qs[16]@8       y = d*q + m;   q = nibble | bit e of qh << 4
//   IQ4_NL 18 B / 32:  d@0 qs[16]@2                   y = d*kvalues[nibble]
//   Q2_K   84 B / 256: scales[16]@0 qs[64]@16 d@80 dmin@82
//          e = 128n + 32k + l: q = (qs[32n+l] >> 2k) & 3; s = scales[e/16]; y = d*(s&15)*q - dmin*(s>>4)
//   Q3_K  110 B / 256: hmask[32]@0 qs[64]@32 scales[12]@96 d@108
//          q as Q2_K, minus 4 where bit 4n+k of hmask[l] is clear; 16 six-bit scales biased by 32
//   Q5_K  176 B / 256: d@0 dmin@2 scales[12]@4 qh[32]@16 qs[128]@48
//          e = 64c + 32h + l, sub = 2c+h: q = nibble h of qs[32c+l] | bit sub of qh[l] << 4;
//          y = d*sc_sub*q - dmin*m_sub (scales packed as Q4_K's)
//   IQ4_XS 136 B / 256: d@0 scales_h(u16)@2 scales_l[4]@4 qs[128]@8
//          e = 32ib + 16hh + j: ls = nibble (ib&1) of scales_l[ib/2] | bits 2ib.. of scales_h << 4;
//          y = d*(ls-32)*kvalues[nibble hh of qs[16ib+j]]
#pragma once

#define GGML_Q4_1 3
#define GGML_Q5_0 6
#define GGML_Q5_1 7
#define GGML_Q2_K 10
#define GGML_Q3_K 11
#define GGML_Q5_K 13
#define GGML_IQ4_NL 20
#define GGML_IQ4_XS 23

// ---- scalar helpers --------------------------------------------------------------------------

__host__ __device__ __forceinline__ u32 grp_u16(const u8* p) { return (u32)*(const u16*)p; } // p is 2-byte aligned

__host__ __device__ __forceinline__ float grp_bits_to_float(u32 bits)
{
    union { u32 u; float f; } c;
    c.u = bits;
    return c.f;
}

// a*b + c and a*b - c with two roundings, as ggml's C computes them: NVRTC would otherwise fuse them
// into one FMA, and the device would no longer decode exactly the floats the host test checks.
__host__ __device__ __forceinline__ float grp_mul_add(float a, float b, float c)
{
#ifdef __CUDA_ARCH__
    return __fadd_rn(__fmul_rn(a, b), c);
#else
    return a * b + c;
#endif
}

__host__ __device__ __forceinline__ float grp_mul_sub(float a, float b, float c)
{
#ifdef __CUDA_ARCH__
    return __fsub_rn(__fmul_rn(a, b), c);
#else
    return a * b - c;
#endif
}

// IEEE binary16 to binary32, exact: the hardware conversion on the device, bit arithmetic on the host.
__host__ __device__ __forceinline__ float grp_half(const u8* p)
{
    const u32 h = grp_u16(p);
#ifdef __CUDA_ARCH__
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((u16)h));
    return f;
#else
    const u32 sign = (h & 0x8000u) << 16, exp = (h >> 10) & 31u, mant = h & 0x3ffu;
    if (exp == 0)
    {
        const float f = (float)mant * 5.9604644775390625e-8f; // mant * 2^-24, exact
        return sign ? -f : f;
    }
    if (exp == 31) return grp_bits_to_float(sign | 0x7f800000u | (mant << 13));
    return grp_bits_to_float(sign | ((exp + 112u) << 23) | (mant << 13));
#endif
}

// ggml's kvalues_iq4nl[q] for q < 16, from two packed constants (no table in memory).
__host__ __device__ __forceinline__ int grp_iq4_level(int q)
{
    // -127 -104 -83 -65 -49 -35 -22 -10 | 1 13 25 38 53 69 89 113, one signed byte each, element 0 lowest.
    const unsigned long long lo = 0xF6EADDCFBFAD9881ull, hi = 0x7159453526190D01ull;
    const unsigned long long w = q < 8 ? lo : hi;
    return (int)(i8)(u8)(w >> (8 * (q & 7)));
}

// The six-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K scales[12] (ggml's get_scale_min_k4); every kernel uses this one.
__host__ __device__ __forceinline__ void grp_scale_min_k4(int j, const u8* q, int& sc, int& m)
{
    if (j < 4)
    {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    }
    else
    {
        sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// ---- eight bytes at once ----------------------------------------------------------------------

// Eight consecutive bytes of a block loaded as two words, with the widest load the address allows:
// A = the alignment the caller guarantees (a row starts 16-byte aligned, so a field's alignment is
// that of its offset within the row: block size and offset in block together; see each decoder).
struct grp_bytes8 { u32 lo, hi; };

template <int A>
__host__ __device__ __forceinline__ grp_bytes8 grp_load8(const u8* p)
{
    grp_bytes8 b;
    if constexpr (A >= 8)
    {
        const unsigned long long w = *(const unsigned long long*)p;
        b.lo = (u32)w;
        b.hi = (u32)(w >> 32);
    }
    else if constexpr (A >= 4)
    {
        b.lo = ((const u32*)p)[0];
        b.hi = ((const u32*)p)[1];
    }
    else
    {
        static_assert(A == 2, "every ggml block field is at least 2-byte aligned");
        b.lo = grp_u16(p) | (grp_u16(p + 2) << 16);
        b.hi = grp_u16(p + 4) | (grp_u16(p + 6) << 16);
    }
    return b;
}

// Byte i (0..7; a constant after unrolling, so this is a shift and a mask).
__host__ __device__ __forceinline__ int grp_at(const grp_bytes8& b, int i) { return (int)(((i < 4 ? b.lo : b.hi) >> (8 * (i & 3))) & 0xffu); }

// ---- 32-value blocks: group g (0..3) is values 8g..8g+7, the nibbles of qs[8(g&1) ..], low for g < 2 --

__host__ __device__ __forceinline__ int grp_nibble(const grp_bytes8& q, int g, int i)
{
    const int b = grp_at(q, i);
    return g < 2 ? (b & 0xF) : (b >> 4);
}

// Q4_1: 20-byte blocks (4-aligned), qs at 4 + 8(g&1): 4-aligned.
__host__ __device__ __forceinline__ void decode8_q4_1(const u8* blk, int g, float v[8])
{
    const float d = grp_half(blk), m = grp_half(blk + 2);
    const grp_bytes8 q = grp_load8<4>(blk + 4 + 8 * (g & 1));
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = grp_mul_add((float)grp_nibble(q, g, i), d, m);
}

// Q5_0: 22-byte blocks (2-aligned).
__host__ __device__ __forceinline__ void decode8_q5_0(const u8* blk, int g, float v[8])
{
    const float d = grp_half(blk);
    const u32 qh = grp_u16(blk + 2) | (grp_u16(blk + 4) << 16);
    const grp_bytes8 q = grp_load8<2>(blk + 6 + 8 * (g & 1));
#pragma unroll
    for (int i = 0; i < 8; i++)
    {
        const int x = grp_nibble(q, g, i) | (int)(((qh >> (8 * g + i)) & 1u) << 4);
        v[i] = (float)(x - 16) * d;
    }
}

// Q5_1: 24-byte blocks (8-aligned), qs at 8 + 8(g&1): 8-aligned.
__host__ __device__ __forceinline__ void decode8_q5_1(const u8* blk, int g, float v[8])
{
    const float d = grp_half(blk), m = grp_half(blk + 2);
    const u32 qh = grp_u16(blk + 4) | (grp_u16(blk + 6) << 16);
    const grp_bytes8 q = grp_load8<8>(blk + 8 + 8 * (g & 1));
#pragma unroll
    for (int i = 0; i < 8; i++)
    {
        const int x = grp_nibble(q, g, i) | (int)(((qh >> (8 * g + i)) & 1u) << 4);
        v[i] = grp_mul_add((float)x, d, m);
    }
}

// IQ4_NL: 18-byte blocks (2-aligned).
__host__ __device__ __forceinline__ void decode8_iq4_nl(const u8* blk, int g, float v[8])
{
    const float d = grp_half(blk);
    const grp_bytes8 q = grp_load8<2>(blk + 2 + 8 * (g & 1));
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = d * (float)grp_iq4_level(grp_nibble(q, g, i));
}

// ---- 256-value super-blocks: group g (0..31) is values 8g..8g+7 ------------------------------

// Q2_K and Q3_K share the 2-bit layout: value e = 128n + 32k + l is bits 2k of qs[32n + l].
// Q2_K: 84-byte blocks (4-aligned), qs at 16 + 32n + l0 (l0 a multiple of 8): 4-aligned.
__host__ __device__ __forceinline__ void decode8_q2_k(const u8* blk, int g, float v[8])
{
    const int e = 8 * g, n = e >> 7, k = (e >> 5) & 3, l0 = e & 31;
    const int s = blk[e >> 4];
    const float dl = grp_half(blk + 80) * (float)(s & 15), ml = grp_half(blk + 82) * (float)(s >> 4);
    const grp_bytes8 q = grp_load8<4>(blk + 16 + 32 * n + l0);
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = grp_mul_sub(dl, (float)((grp_at(q, i) >> (2 * k)) & 3), ml);
}

// Q3_K: 110-byte blocks (2-aligned).
__host__ __device__ __forceinline__ void decode8_q3_k(const u8* blk, int g, float v[8])
{
    const int e = 8 * g, n = e >> 7, k = (e >> 5) & 3, l0 = e & 31, j = e >> 4;
    const u8* s = blk + 96;
    const int low = j < 8 ? (s[j] & 15) : (s[j - 8] >> 4);
    const int high = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    const float dl = grp_half(blk + 108) * (float)((low | (high << 4)) - 32);
    const grp_bytes8 q = grp_load8<2>(blk + 32 + 32 * n + l0), hm = grp_load8<2>(blk + l0);
#pragma unroll
    for (int i = 0; i < 8; i++)
    {
        const int x = ((grp_at(q, i) >> (2 * k)) & 3) - (((grp_at(hm, i) >> (4 * n + k)) & 1) ? 0 : 4);
        v[i] = dl * (float)x;
    }
}

// Q5_K: 176-byte blocks (16-aligned), qs at 48 + 32c + l0 and qh at 16 + l0: 8-aligned.
__host__ __device__ __forceinline__ void decode8_q5_k(const u8* blk, int g, float v[8])
{
    const int e = 8 * g, c = e >> 6, h = (e >> 5) & 1, l0 = e & 31, sub = e >> 5;
    int sc, m;
    grp_scale_min_k4(sub, blk + 4, sc, m);
    const float dl = grp_half(blk) * (float)sc, ml = grp_half(blk + 2) * (float)m;
    const grp_bytes8 q = grp_load8<8>(blk + 48 + 32 * c + l0), qh = grp_load8<8>(blk + 16 + l0);
#pragma unroll
    for (int i = 0; i < 8; i++)
    {
        const int b = grp_at(q, i);
        const int x = (h ? (b >> 4) : (b & 15)) + (((grp_at(qh, i) >> sub) & 1) << 4);
        v[i] = grp_mul_sub(dl, (float)x, ml);
    }
}

// IQ4_XS: 136-byte blocks (8-aligned), qs at 8 + 16ib + j0 (j0 = 0 or 8): 8-aligned.
__host__ __device__ __forceinline__ void decode8_iq4_xs(const u8* blk, int g, float v[8])
{
    const int e = 8 * g, ib = e >> 5, hh = (e >> 4) & 1, j0 = e & 15;
    const int ls = ((blk[4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (int)(((grp_u16(blk + 2) >> (2 * ib)) & 3u) << 4);
    const float dl = grp_half(blk) * (float)(ls - 32);
    const grp_bytes8 q = grp_load8<8>(blk + 8 + 16 * ib + j0);
#pragma unroll
    for (int i = 0; i < 8; i++)
    {
        const int b = grp_at(q, i);
        v[i] = dl * (float)grp_iq4_level(hh ? (b >> 4) : (b & 15));
    }
}

// ---- dispatch by ggml type id ----------------------------------------------------------------

// Values per block and bytes per block of the group types (0 for any other type).
__host__ __device__ constexpr int group_block_elements(int type)
{
    return type == GGML_Q4_1 || type == GGML_Q5_0 || type == GGML_Q5_1 || type == GGML_IQ4_NL ? 32
         : type == GGML_Q2_K || type == GGML_Q3_K || type == GGML_Q5_K || type == GGML_IQ4_XS ? 256 : 0;
}

__host__ __device__ constexpr int group_block_bytes(int type)
{
    return type == GGML_Q4_1 ? 20 : type == GGML_Q5_0 ? 22 : type == GGML_Q5_1 ? 24 : type == GGML_IQ4_NL ? 18
         : type == GGML_Q2_K ? 84 : type == GGML_Q3_K ? 110 : type == GGML_Q5_K ? 176 : type == GGML_IQ4_XS ? 136 : 0;
}

template <int TYPE>
__host__ __device__ __forceinline__ void decode8(const u8* blk, int g, float v[8])
{
    if constexpr (TYPE == GGML_Q4_1) decode8_q4_1(blk, g, v);
    else if constexpr (TYPE == GGML_Q5_0) decode8_q5_0(blk, g, v);
    else if constexpr (TYPE == GGML_Q5_1) decode8_q5_1(blk, g, v);
    else if constexpr (TYPE == GGML_IQ4_NL) decode8_iq4_nl(blk, g, v);
    else if constexpr (TYPE == GGML_Q2_K) decode8_q2_k(blk, g, v);
    else if constexpr (TYPE == GGML_Q3_K) decode8_q3_k(blk, g, v);
    else if constexpr (TYPE == GGML_Q5_K) decode8_q5_k(blk, g, v);
    else if constexpr (TYPE == GGML_IQ4_XS) decode8_iq4_xs(blk, g, v);
    else static_assert(TYPE < 0, "not a group type");
}

// Group g of a row (g < cols / 8) that starts at `row`.
template <int TYPE>
__host__ __device__ __forceinline__ void decode8_row(const u8* row, int g, float v[8])
{
    constexpr int per_block = group_block_elements(TYPE) / 8;
    decode8<TYPE>(row + (g / per_block) * group_block_bytes(TYPE), g % per_block, v);
}

// Element e of a row: its group decoded, one value kept. Only the embedding gather (one row per token)
// reads elements one by one, so the 8x redundant decoding and the select (NVRTC turns it into a
// local-memory load) do not matter there; matvec and dequant use whole groups.
template <int TYPE>
__host__ __device__ __forceinline__ float group_element(const u8* row, int e)
{
    float v[8];
    decode8_row<TYPE>(row, e >> 3, v);
    float r = v[0];
#pragma unroll
    for (int i = 1; i < 8; i++)
        if ((e & 7) == i) r = v[i];
    return r;
}

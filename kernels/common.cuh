// common.cuh: helpers shared by every kernels/*.cu, handed to NVRTC in memory (include name
// "common.cuh"). Header-free by design: NVRTC 11.8 has no cuda_fp16.h, <cstdint> or INFINITY,
// and __dp4a does not link, so f16 goes through inline PTX `cvt`, bf16 through bit shifts, and
// fixed-width integers are spelled with the basic types.
//
// Conventions used by every kernel:
//   - each kernel takes one params struct by value; its C# mirror (src/Actors.Cuda/Kernels/KernelParams.cs)
//     has the same fields in the same order, and ACTORS_CHECK_SIZE pins the size on both sides;
//   - pointers are device addresses; "[a, b]" in a layout comment means row-major, b contiguous;
//   - ggml quant blocks are read in place, exactly as ggml-common.h lays them out.
#pragma once

typedef unsigned char u8;
typedef signed char i8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef long long i64;
typedef unsigned long long u64;

#define ACTORS_CHECK_SIZE(type, bytes) static_assert(sizeof(type) == (bytes), #type " must be " #bytes " bytes to match its C# mirror")

#define NEG_INF (__uint_as_float(0xff800000u))
#define FULL_MASK 0xffffffffu

// ggml type ids (ggml.h); those of the group types are in ggml_groups.cuh
#define GGML_F32 0
#define GGML_F16 1
#define GGML_Q4_0 2
#define GGML_Q8_0 8
#define GGML_Q4_K 12
#define GGML_Q6_K 14
#define GGML_BF16 30

// ---- scalar conversions ----------------------------------------------------------------------

__device__ __forceinline__ float f16_to_f32(u16 h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ u16 f32_to_f16(float f)
{
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

__device__ __forceinline__ float bf16_to_f32(u16 b) { return __uint_as_float(((u32)b) << 16); }

// ---- reductions ------------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
// scratch: 32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float* scratch)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads(); // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_sum(lane < warps ? scratch[lane] : 0.0f);
}

// ---- unaligned loads -------------------------------------------------------------------------

// Eight bytes from an address that is only 2-byte aligned (Q8_0, Q4_0 and Q6_K blocks), as two words.
__device__ __forceinline__ void load8_a2(const u8* p, u32& lo, u32& hi)
{
    const u16* h = (const u16*)p;
    lo = (u32)h[0] | ((u32)h[1] << 16);
    hi = (u32)h[2] | ((u32)h[3] << 16);
}

__device__ __forceinline__ int byte_of(u32 w, int i) { return (int)((w >> (8 * i)) & 0xffu); }
__device__ __forceinline__ int sbyte_of(u32 w, int i) { return (int)(i8)((w >> (8 * i)) & 0xffu); }

// ---- ggml blocks (ggml-common.h) -------------------------------------------------------------

struct block_q8_0 { u16 d; i8 qs[32]; };                           // y = d*q
struct block_q4_0 { u16 d; u8 qs[16]; };                           // y = d*(nibble-8); j<16 low, j>=16 high nibble of qs[j-16]
struct block_q4_K { u16 d; u16 dmin; u8 scales[12]; u8 qs[128]; };  // y = d*sc*q - dmin*m per 32-value sub-block
struct block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; u16 d; }; // y = d*sc*(q-32) per 16-value sub-block
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 is 34 bytes");
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 is 18 bytes");
static_assert(sizeof(block_q4_K) == 144, "block_q4_K is 144 bytes");
static_assert(sizeof(block_q6_K) == 210, "block_q6_K is 210 bytes");

// Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q5_K and IQ4_XS: decoded eight values at a time.
#include "ggml_groups.cuh"

// Element e of a row of ggml type TYPE that starts at `row` (used where speed does not matter:
// embedding gathers and dequantisation for GEMMs).
template <int TYPE>
__device__ __forceinline__ float dequant_element(const u8* row, int e)
{
    if constexpr (group_block_elements(TYPE) != 0) return group_element<TYPE>(row, e);
    if (TYPE == GGML_F32) return ((const float*)row)[e];
    if (TYPE == GGML_F16) return f16_to_f32(((const u16*)row)[e]);
    if (TYPE == GGML_BF16) return bf16_to_f32(((const u16*)row)[e]);
    if (TYPE == GGML_Q8_0)
    {
        const block_q8_0* b = (const block_q8_0*)row + e / 32;
        return f16_to_f32(b->d) * (float)b->qs[e % 32];
    }
    if (TYPE == GGML_Q4_0)
    {
        const block_q4_0* b = (const block_q4_0*)row + e / 32;
        const int j = e % 32;
        const int q = j < 16 ? (b->qs[j] & 0xF) : (b->qs[j - 16] >> 4);
        return f16_to_f32(b->d) * (float)(q - 8);
    }
    if (TYPE == GGML_Q4_K)
    {
        const block_q4_K* b = (const block_q4_K*)row + e / 256;
        const int j = e % 256, sub = j / 32, l = j % 32;
        const u8 byte = b->qs[32 * (sub / 2) + l];
        const int q = (sub & 1) ? (byte >> 4) : (byte & 0xF);
        int sc, m;
        grp_scale_min_k4(sub, b->scales, sc, m);
        return f16_to_f32(b->d) * (float)sc * (float)q - f16_to_f32(b->dmin) * (float)m;
    }
    if (TYPE == GGML_Q6_K)
    {
        const block_q6_K* b = (const block_q6_K*)row + e / 256;
        const int j = e % 256, n = j / 128, r = j % 128, quarter = r / 32, l = r % 32, is = l / 16;
        const u8* ql = b->ql + 64 * n;
        const u8* qh = b->qh + 32 * n;
        const i8* sc = b->scales + 8 * n;
        const int lowbits = (quarter & 1) ? ql[l + 32] : ql[l];
        const int q = ((quarter < 2) ? (lowbits & 0xF) : (lowbits >> 4)) | (((qh[l] >> (2 * quarter)) & 3) << 4);
        return f16_to_f32(b->d) * (float)sc[is + 2 * quarter] * (float)(q - 32);
    }
    return 0.0f;
}

// KV-cache element access for f32 and f16 pools.
__device__ __forceinline__ float load_kv(const float* p, u64 i) { return p[i]; }
__device__ __forceinline__ float load_kv(const u16* p, u64 i) { return f16_to_f32(p[i]); }
__device__ __forceinline__ void store_kv(float* p, u64 i, float v) { p[i] = v; }
__device__ __forceinline__ void store_kv(u16* p, u64 i, float v) { p[i] = f32_to_f16(v); }

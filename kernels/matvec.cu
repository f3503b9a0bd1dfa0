// matvec.cu: matrix-vector products for decode-sized batches, reading ggml weight blocks in place.
//     y[t, r] = sum_k W[r, k] * x[t, k]      for t < n_tokens, r < rows
// W is a GGUF 2-D weight (ne = [cols, rows]): rows of `cols` values stored as `row_bytes` bytes of
// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K or IQ4_XS blocks. x and y stay f32; each weight block is decoded
// once per launch and applied to up to MV_TOKENS tokens, so a decode step of a few sequences reads
// the weights once.
//
// Grid:  (ceil(rows / 4), ceil(n_tokens / 8))
// Block: (128) = 4 warps, one output row per warp.
//   F32/F16/BF16: lanes stride over the row (4 or 8 values per lane per step when cols allows
//                 vector loads, else one).
//   Q8_0/Q4_0:    4 lanes per 32-value block (8 values each), 8 blocks per warp step.
//   Q4_K/Q6_K:    8 lanes per 256-value super-block (32 values each), 4 blocks per warp step.
//   the group types (ggml_groups.cuh): one lane per 8 consecutive values, 256 values per warp step
//                 (8 blocks of 32 or one super-block).
// Pointers:
//   w   bytes [rows, row_bytes]   16-byte aligned (every allocation is; Q4_K rows are multiples of 144);
//                                 the group types load 8 quant bytes at once as their block size allows
//   x   float [n_tokens, cols]
//   y   float [n_tokens, rows]
#include "common.cuh"

#define MV_WARPS 4
#define MV_TOKENS 8

struct MatvecParams
{
    const u8* w;
    const float* x;
    float* y;
    i64 row_bytes;
    int rows;
    int cols;
    int n_tokens;
    int pad0;
};
ACTORS_CHECK_SIZE(MatvecParams, 48);

// sum[t] += dot(v[0..7], x[t, k0..k0+7]) for the tokens of this launch.
__device__ __forceinline__ void accumulate8(float sum[MV_TOKENS], const float v[8], const float* x, int cols, int nt, int k0)
{
#pragma unroll
    for (int t = 0; t < MV_TOKENS; t++)
    {
        if (t >= nt) break;
        const float4* xp = (const float4*)(x + (u64)t * cols + k0);
        const float4 a = xp[0], b = xp[1];
        sum[t] += v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w + v[4] * b.x + v[5] * b.y + v[6] * b.z + v[7] * b.w;
    }
}

__device__ __forceinline__ void finish(const MatvecParams& p, float sum[MV_TOKENS], int row, int t0, int nt)
{
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int t = 0; t < MV_TOKENS; t++)
    {
        if (t >= nt) break;
        const float v = warp_sum(sum[t]);
        if (lane == 0) p.y[(u64)(t0 + t) * p.rows + row] = v;
    }
}

template <int TYPE>
__device__ __forceinline__ void matvec_float(const MatvecParams& p)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int t0 = blockIdx.y * MV_TOKENS;
    if (row >= p.rows || t0 >= p.n_tokens) return;
    const int nt = min(MV_TOKENS, p.n_tokens - t0);
    const float* x = p.x + (u64)t0 * p.cols;
    const u8* w = p.w + (u64)row * p.row_bytes;
    float sum[MV_TOKENS];
#pragma unroll
    for (int t = 0; t < MV_TOKENS; t++) sum[t] = 0.0f;

    int k = 0;
    if ((p.cols & 7) == 0)
    {
        // 8 values per lane per step: 32 bytes of f32 or 16 bytes of f16/bf16, aligned because cols % 8 == 0.
        for (k = lane * 8; k < p.cols; k += 32 * 8)
        {
            float v[8];
            if (TYPE == GGML_F32)
            {
                const float4 a = *(const float4*)(w + (u64)k * 4), b = *(const float4*)(w + (u64)k * 4 + 16);
                v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
            }
            else
            {
                const uint4 raw = *(const uint4*)(w + (u64)k * 2);
                const u32 words[4] = { raw.x, raw.y, raw.z, raw.w };
#pragma unroll
                for (int i = 0; i < 4; i++)
                {
                    const u16 lo = (u16)(words[i] & 0xffffu), hi = (u16)(words[i] >> 16);
                    v[2 * i] = TYPE == GGML_F16 ? f16_to_f32(lo) : bf16_to_f32(lo);
                    v[2 * i + 1] = TYPE == GGML_F16 ? f16_to_f32(hi) : bf16_to_f32(hi);
                }
            }
            accumulate8(sum, v, x, p.cols, nt, k);
        }
    }
    else
    {
        for (k = lane; k < p.cols; k += 32)
        {
            const float v = dequant_element<TYPE>(w, k);
#pragma unroll
            for (int t = 0; t < MV_TOKENS; t++)
                if (t < nt) sum[t] += v * x[(u64)t * p.cols + k];
        }
    }
    finish(p, sum, row, t0, nt);
}

// Q8_0 and Q4_0: lane = (block b = step*8 + lane/4, part = lane%4) decodes 8 values.
template <int TYPE>
__device__ __forceinline__ void matvec_q32(const MatvecParams& p)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int t0 = blockIdx.y * MV_TOKENS;
    if (row >= p.rows || t0 >= p.n_tokens) return;
    const int nt = min(MV_TOKENS, p.n_tokens - t0);
    const float* x = p.x + (u64)t0 * p.cols;
    const u8* w = p.w + (u64)row * p.row_bytes;
    const int nblocks = p.cols / 32, part = lane & 3;
    float sum[MV_TOKENS];
#pragma unroll
    for (int t = 0; t < MV_TOKENS; t++) sum[t] = 0.0f;

    for (int b = lane >> 2; b < nblocks; b += 8)
    {
        float v[8];
        if (TYPE == GGML_Q8_0)
        {
            const block_q8_0* blk = (const block_q8_0*)w + b;
            const float d = f16_to_f32(blk->d);
            u32 lo, hi;
            load8_a2((const u8*)blk->qs + 8 * part, lo, hi);
#pragma unroll
            for (int i = 0; i < 4; i++)
            {
                v[i] = d * (float)sbyte_of(lo, i);
                v[4 + i] = d * (float)sbyte_of(hi, i);
            }
            accumulate8(sum, v, x, p.cols, nt, 32 * b + 8 * part);
        }
        else
        {
            // Q4_0: bytes qs[4*part .. 4*part+3] hold elements 4*part+i (low nibble) and 16+4*part+i (high).
            const block_q4_0* blk = (const block_q4_0*)w + b;
            const float d = f16_to_f32(blk->d);
            const u16* h = (const u16*)(blk->qs + 4 * part);
            const u32 q = (u32)h[0] | ((u32)h[1] << 16);
            float lo4[8];
#pragma unroll
            for (int i = 0; i < 4; i++)
            {
                lo4[i] = d * (float)((int)((q >> (8 * i)) & 0xF) - 8);
                lo4[4 + i] = d * (float)((int)((q >> (8 * i + 4)) & 0xF) - 8);
            }
            // Two groups of 4 consecutive values: x[32b + 4part ..] and x[32b + 16 + 4part ..].
#pragma unroll
            for (int t = 0; t < MV_TOKENS; t++)
            {
                if (t >= nt) break;
                const float* xr = x + (u64)t * p.cols + 32 * b + 4 * part;
                const float4 a = *(const float4*)xr, c = *(const float4*)(xr + 16);
                sum[t] += lo4[0] * a.x + lo4[1] * a.y + lo4[2] * a.z + lo4[3] * a.w
                        + lo4[4] * c.x + lo4[5] * c.y + lo4[6] * c.z + lo4[7] * c.w;
            }
        }
    }
    finish(p, sum, row, t0, nt);
}

// Q4_K: lane = (block b = step*4 + lane/8, L = lane%8): chunk c = L/2 and half = L%2 select 16 bytes
// qs[32c + 16half ..] whose low nibbles are values 64c + 16half + i of sub-block 2c and whose high
// nibbles are values 64c + 32 + 16half + i of sub-block 2c+1.
__device__ __forceinline__ void matvec_q4_k_impl(const MatvecParams& p)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int t0 = blockIdx.y * MV_TOKENS;
    if (row >= p.rows || t0 >= p.n_tokens) return;
    const int nt = min(MV_TOKENS, p.n_tokens - t0);
    const float* x = p.x + (u64)t0 * p.cols;
    const u8* w = p.w + (u64)row * p.row_bytes;
    const int nblocks = p.cols / 256, L = lane & 7, c = L >> 1, half = L & 1;
    float sum[MV_TOKENS];
#pragma unroll
    for (int t = 0; t < MV_TOKENS; t++) sum[t] = 0.0f;

    for (int b = lane >> 3; b < nblocks; b += 4)
    {
        const block_q4_K* blk = (const block_q4_K*)w + b;
        const float d = f16_to_f32(blk->d), dmin = f16_to_f32(blk->dmin);
        int sc0, m0, sc1, m1;
        grp_scale_min_k4(2 * c, blk->scales, sc0, m0);
        grp_scale_min_k4(2 * c + 1, blk->scales, sc1, m1);
        const uint4 raw = *(const uint4*)(blk->qs + 32 * c + 16 * half); // 16-byte aligned: blocks are 144 bytes
        const u32 q[4] = { raw.x, raw.y, raw.z, raw.w };
        const int k_lo = 256 * b + 64 * c + 16 * half, k_hi = k_lo + 32;
#pragma unroll
        for (int t = 0; t < MV_TOKENS; t++)
        {
            if (t >= nt) break;
            const float4* xl = (const float4*)(x + (u64)t * p.cols + k_lo);
            const float4* xh = (const float4*)(x + (u64)t * p.cols + k_hi);
            float dot_lo = 0.0f, dot_hi = 0.0f, sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
            for (int i = 0; i < 4; i++)
            {
                const float4 a = xl[i], e = xh[i];
                const u32 word = q[i];
                dot_lo += (float)(word & 0xF) * a.x + (float)((word >> 8) & 0xF) * a.y
                        + (float)((word >> 16) & 0xF) * a.z + (float)((word >> 24) & 0xF) * a.w;
                dot_hi += (float)((word >> 4) & 0xF) * e.x + (float)((word >> 12) & 0xF) * e.y
                        + (float)((word >> 20) & 0xF) * e.z + (float)((word >> 28) & 0xF) * e.w;
                sum_lo += a.x + a.y + a.z + a.w;
                sum_hi += e.x + e.y + e.z + e.w;
            }
            sum[t] += d * ((float)sc0 * dot_lo + (float)sc1 * dot_hi) - dmin * ((float)m0 * sum_lo + (float)m1 * sum_hi);
        }
    }
    finish(p, sum, row, t0, nt);
}

// Q6_K: lane = (block b = step*4 + lane/8, L = lane%8): half n = L/4 and l0 = 8*(L%4) select
// l = l0..l0+7, whose values 128n + l + 32q (q = 0..3) use ql[64n + l (+32)], qh[32n + l] and
// scale sc[8n + l0/16 + 2q].
__device__ __forceinline__ void matvec_q6_k_impl(const MatvecParams& p)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int t0 = blockIdx.y * MV_TOKENS;
    if (row >= p.rows || t0 >= p.n_tokens) return;
    const int nt = min(MV_TOKENS, p.n_tokens - t0);
    const float* x = p.x + (u64)t0 * p.cols;
    const u8* w = p.w + (u64)row * p.row_bytes;
    const int nblocks = p.cols / 256, L = lane & 7, n = L >> 2, l0 = 8 * (L & 3), is = l0 / 16;
    float sum[MV_TOKENS];
#pragma unroll
    for (int t = 0; t < MV_TOKENS; t++) sum[t] = 0.0f;

    for (int b = lane >> 3; b < nblocks; b += 4)
    {
        const block_q6_K* blk = (const block_q6_K*)w + b;
        const float d = f16_to_f32(blk->d);
        u32 qlA0, qlA1, qlB0, qlB1, qh0, qh1;
        load8_a2(blk->ql + 64 * n + l0, qlA0, qlA1);
        load8_a2(blk->ql + 64 * n + 32 + l0, qlB0, qlB1);
        load8_a2(blk->qh + 32 * n + l0, qh0, qh1);
        float v[4][8];
#pragma unroll
        for (int i = 0; i < 8; i++)
        {
            const int a = byte_of(i < 4 ? qlA0 : qlA1, i & 3);
            const int bq = byte_of(i < 4 ? qlB0 : qlB1, i & 3);
            const int h = byte_of(i < 4 ? qh0 : qh1, i & 3);
            v[0][i] = (float)(((a & 0xF) | (((h >> 0) & 3) << 4)) - 32);
            v[1][i] = (float)(((bq & 0xF) | (((h >> 2) & 3) << 4)) - 32);
            v[2][i] = (float)(((a >> 4) | (((h >> 4) & 3) << 4)) - 32);
            v[3][i] = (float)(((bq >> 4) | (((h >> 6) & 3) << 4)) - 32);
        }
        float scale[4];
#pragma unroll
        for (int qq = 0; qq < 4; qq++) scale[qq] = d * (float)blk->scales[8 * n + is + 2 * qq];
#pragma unroll
        for (int t = 0; t < MV_TOKENS; t++)
        {
            if (t >= nt) break;
            const float* xr = x + (u64)t * p.cols + 256 * b + 128 * n + l0;
            float acc = 0.0f;
#pragma unroll
            for (int qq = 0; qq < 4; qq++)
            {
                const float4 a = *(const float4*)(xr + 32 * qq), c = *(const float4*)(xr + 32 * qq + 4);
                acc += scale[qq] * (v[qq][0] * a.x + v[qq][1] * a.y + v[qq][2] * a.z + v[qq][3] * a.w
                                  + v[qq][4] * c.x + v[qq][5] * c.y + v[qq][6] * c.z + v[qq][7] * c.w);
            }
            sum[t] += acc;
        }
    }
    finish(p, sum, row, t0, nt);
}

// The group types: lane handles groups g = lane, lane + 32, ... (values 8g..8g+7 of the row), so the
// warp reads 1 KiB of consecutive activations per step and each lane decodes its own block's scales.
template <int TYPE>
__device__ __forceinline__ void matvec_groups(const MatvecParams& p)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int t0 = blockIdx.y * MV_TOKENS;
    if (row >= p.rows || t0 >= p.n_tokens) return;
    const int nt = min(MV_TOKENS, p.n_tokens - t0);
    const float* x = p.x + (u64)t0 * p.cols;
    const u8* w = p.w + (u64)row * p.row_bytes;
    const int groups = p.cols / 8;
    float sum[MV_TOKENS];
#pragma unroll
    for (int t = 0; t < MV_TOKENS; t++) sum[t] = 0.0f;

    for (int g = lane; g < groups; g += 32)
    {
        float v[8];
        decode8_row<TYPE>(w, g, v);
        accumulate8(sum, v, x, p.cols, nt, 8 * g);
    }
    finish(p, sum, row, t0, nt);
}

extern "C" __global__ void matvec_f32(const MatvecParams p) { matvec_float<GGML_F32>(p); }
extern "C" __global__ void matvec_f16(const MatvecParams p) { matvec_float<GGML_F16>(p); }
extern "C" __global__ void matvec_bf16(const MatvecParams p) { matvec_float<GGML_BF16>(p); }
extern "C" __global__ void matvec_q8_0(const MatvecParams p) { matvec_q32<GGML_Q8_0>(p); }
extern "C" __global__ void matvec_q4_0(const MatvecParams p) { matvec_q32<GGML_Q4_0>(p); }
extern "C" __global__ void matvec_q4_k(const MatvecParams p) { matvec_q4_k_impl(p); }
extern "C" __global__ void matvec_q6_k(const MatvecParams p) { matvec_q6_k_impl(p); }
extern "C" __global__ void matvec_q4_1(const MatvecParams p) { matvec_groups<GGML_Q4_1>(p); }
extern "C" __global__ void matvec_q5_0(const MatvecParams p) { matvec_groups<GGML_Q5_0>(p); }
extern "C" __global__ void matvec_q5_1(const MatvecParams p) { matvec_groups<GGML_Q5_1>(p); }
extern "C" __global__ void matvec_iq4_nl(const MatvecParams p) { matvec_groups<GGML_IQ4_NL>(p); }
extern "C" __global__ void matvec_q2_k(const MatvecParams p) { matvec_groups<GGML_Q2_K>(p); }
extern "C" __global__ void matvec_q3_k(const MatvecParams p) { matvec_groups<GGML_Q3_K>(p); }
extern "C" __global__ void matvec_q5_k(const MatvecParams p) { matvec_groups<GGML_Q5_K>(p); }
extern "C" __global__ void matvec_iq4_xs(const MatvecParams p) { matvec_groups<GGML_IQ4_XS>(p); }

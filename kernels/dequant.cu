// dequant.cu: decode a ggml weight (or an f32 activation matrix) to IEEE binary16, the input of the
// cuBLAS GEMMs used for large batches.
//     out[r, e] = f16(dequant(row r of src)[e])     (round to nearest even)
// dequant_f32_to_f16 also converts activations [tokens, features] (row_bytes = 4 * cols).
// Values beyond the f16 range become +-inf, as a cast would; ggml weights stay far inside it.
//
// Grid:  (rows, ceil(cols / 256)); the group types (ggml_groups.cuh): (rows, ceil(cols / 2048))
// Block: (256): one value per thread; for the group types 8 consecutive values per thread
// Pointers:
//   src   bytes [rows, row_bytes]   ggml blocks of the entry's type
//   out   f16   [rows, cols]
#include "common.cuh"

struct DequantParams
{
    const u8* src;
    u16* out;
    i64 row_bytes;
    int rows;
    int cols;
};
ACTORS_CHECK_SIZE(DequantParams, 32);

template <int TYPE>
__device__ __forceinline__ void dequant_rows(const DequantParams& p)
{
    const int r = blockIdx.x;
    const int e = blockIdx.y * blockDim.x + threadIdx.x;
    if (r >= p.rows || e >= p.cols) return;
    p.out[(u64)r * p.cols + e] = f32_to_f16(dequant_element<TYPE>(p.src + (u64)r * (u64)p.row_bytes, e));
}

// Group g = blockIdx.y * 256 + threadIdx.x of row r: values 8g..8g+7 decoded once and stored as one
// 16-byte write (cols is a multiple of 32, so out + r*cols + 8g is 16-byte aligned).
template <int TYPE>
__device__ __forceinline__ void dequant_groups(const DequantParams& p)
{
    const int r = blockIdx.x;
    const int g = blockIdx.y * blockDim.x + threadIdx.x;
    if (r >= p.rows || g >= p.cols / 8) return;
    float v[8];
    decode8_row<TYPE>(p.src + (u64)r * (u64)p.row_bytes, g, v);
    u32 h[4];
#pragma unroll
    for (int i = 0; i < 4; i++) h[i] = (u32)f32_to_f16(v[2 * i]) | ((u32)f32_to_f16(v[2 * i + 1]) << 16);
    *(uint4*)(p.out + (u64)r * p.cols + 8 * g) = make_uint4(h[0], h[1], h[2], h[3]);
}

extern "C" __global__ void dequant_f32_to_f16(const DequantParams p) { dequant_rows<GGML_F32>(p); }
extern "C" __global__ void dequant_bf16_to_f16(const DequantParams p) { dequant_rows<GGML_BF16>(p); }
extern "C" __global__ void dequant_q8_0_to_f16(const DequantParams p) { dequant_rows<GGML_Q8_0>(p); }
extern "C" __global__ void dequant_q4_0_to_f16(const DequantParams p) { dequant_rows<GGML_Q4_0>(p); }
extern "C" __global__ void dequant_q4_k_to_f16(const DequantParams p) { dequant_rows<GGML_Q4_K>(p); }
extern "C" __global__ void dequant_q6_k_to_f16(const DequantParams p) { dequant_rows<GGML_Q6_K>(p); }
extern "C" __global__ void dequant_q4_1_to_f16(const DequantParams p) { dequant_groups<GGML_Q4_1>(p); }
extern "C" __global__ void dequant_q5_0_to_f16(const DequantParams p) { dequant_groups<GGML_Q5_0>(p); }
extern "C" __global__ void dequant_q5_1_to_f16(const DequantParams p) { dequant_groups<GGML_Q5_1>(p); }
extern "C" __global__ void dequant_iq4_nl_to_f16(const DequantParams p) { dequant_groups<GGML_IQ4_NL>(p); }
extern "C" __global__ void dequant_q2_k_to_f16(const DequantParams p) { dequant_groups<GGML_Q2_K>(p); }
extern "C" __global__ void dequant_q3_k_to_f16(const DequantParams p) { dequant_groups<GGML_Q3_K>(p); }
extern "C" __global__ void dequant_q5_k_to_f16(const DequantParams p) { dequant_groups<GGML_Q5_K>(p); }
extern "C" __global__ void dequant_iq4_xs_to_f16(const DequantParams p) { dequant_groups<GGML_IQ4_XS>(p); }

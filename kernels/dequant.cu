// dequant.cu: decode a ggml weight (or an f32 activation matrix) to IEEE binary16, the input of the
// cuBLAS GEMMs used for large batches.
//     out[r, e] = f16(dequant(row r of src)[e])     (round to nearest even)
// dequant_f32_to_f16 also converts activations [tokens, features] (row_bytes = 4 * cols).
// Values beyond the f16 range become +-inf, as a cast would; ggml weights stay far inside it.
//
// Grid:  (rows, ceil(cols / 256))
// Block: (256)
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

extern "C" __global__ void dequant_f32_to_f16(const DequantParams p) { dequant_rows<GGML_F32>(p); }
extern "C" __global__ void dequant_bf16_to_f16(const DequantParams p) { dequant_rows<GGML_BF16>(p); }
extern "C" __global__ void dequant_q8_0_to_f16(const DequantParams p) { dequant_rows<GGML_Q8_0>(p); }
extern "C" __global__ void dequant_q4_0_to_f16(const DequantParams p) { dequant_rows<GGML_Q4_0>(p); }
extern "C" __global__ void dequant_q4_k_to_f16(const DequantParams p) { dequant_rows<GGML_Q4_K>(p); }
extern "C" __global__ void dequant_q6_k_to_f16(const DequantParams p) { dequant_rows<GGML_Q6_K>(p); }

// embedding.cu: embedding gather. For every token t and element e:
//     out[t, e] = dequant(table row tokens[t])[e]
// The table is a ggml weight of n_rows rows, each row_bytes long (F32, F16, BF16 or any quantized
// type of common.cuh's dequant_element, decoded exactly as ggml does). Ids outside [0, n_rows) give a row of NaN,
// so a bad id is loud rather than silently wrong (the host validates ids before launching).
// The F32 entry doubles as a row gather of activations (e.g. the logit rows of the last stage).
//
// Grid:  (n_tokens, ceil(dim / 256))
// Block: (256)
// Pointers:
//   tokens  int   [n_tokens]            row index of each output row
//   table   bytes [n_rows, row_bytes]   ggml blocks, row r at r * row_bytes
//   out     float [n_tokens, dim]
#include "common.cuh"

struct EmbeddingParams
{
    const int* tokens;
    const u8* table;
    float* out;
    i64 row_bytes;
    int n_tokens;
    int dim;
    int n_rows;
    int pad0;
};
ACTORS_CHECK_SIZE(EmbeddingParams, 48);

template <int TYPE>
__device__ __forceinline__ void embedding_rows(const EmbeddingParams& p)
{
    const int t = blockIdx.x;
    const int e = blockIdx.y * blockDim.x + threadIdx.x;
    if (t >= p.n_tokens || e >= p.dim) return;
    const int id = p.tokens[t];
    float v = __uint_as_float(0x7fc00000u); // NaN for an out-of-range id
    if (id >= 0 && id < p.n_rows) v = dequant_element<TYPE>(p.table + (u64)id * (u64)p.row_bytes, e);
    p.out[(u64)t * p.dim + e] = v;
}

extern "C" __global__ void embedding_f32(const EmbeddingParams p) { embedding_rows<GGML_F32>(p); }
extern "C" __global__ void embedding_f16(const EmbeddingParams p) { embedding_rows<GGML_F16>(p); }
extern "C" __global__ void embedding_bf16(const EmbeddingParams p) { embedding_rows<GGML_BF16>(p); }
extern "C" __global__ void embedding_q8_0(const EmbeddingParams p) { embedding_rows<GGML_Q8_0>(p); }
extern "C" __global__ void embedding_q4_0(const EmbeddingParams p) { embedding_rows<GGML_Q4_0>(p); }
extern "C" __global__ void embedding_q4_k(const EmbeddingParams p) { embedding_rows<GGML_Q4_K>(p); }
extern "C" __global__ void embedding_q6_k(const EmbeddingParams p) { embedding_rows<GGML_Q6_K>(p); }
extern "C" __global__ void embedding_q4_1(const EmbeddingParams p) { embedding_rows<GGML_Q4_1>(p); }
extern "C" __global__ void embedding_q5_0(const EmbeddingParams p) { embedding_rows<GGML_Q5_0>(p); }
extern "C" __global__ void embedding_q5_1(const EmbeddingParams p) { embedding_rows<GGML_Q5_1>(p); }
extern "C" __global__ void embedding_iq4_nl(const EmbeddingParams p) { embedding_rows<GGML_IQ4_NL>(p); }
extern "C" __global__ void embedding_q2_k(const EmbeddingParams p) { embedding_rows<GGML_Q2_K>(p); }
extern "C" __global__ void embedding_q3_k(const EmbeddingParams p) { embedding_rows<GGML_Q3_K>(p); }
extern "C" __global__ void embedding_q5_k(const EmbeddingParams p) { embedding_rows<GGML_Q5_K>(p); }
extern "C" __global__ void embedding_iq4_xs(const EmbeddingParams p) { embedding_rows<GGML_IQ4_XS>(p); }

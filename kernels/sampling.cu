// sampling.cu: greedy and top-k selection over logit rows on the device, so only a few numbers
// per row travel back to the host.
//   argmax_f32:  out_index[r] = argmax_j logits[r, j], out_value[r] = that logit
//   topk_f32:    out_index[r, 0..k) / out_value[r, 0..k) = the k largest logits of row r, best first
// Order (logit_rank.cuh): NaN first, then larger value first, equal values by smaller index (so results
// are deterministic and match the CPU's LogitTopK). A row holding NaN reports its first NaN in every
// slot, as LogitTopK does, so the host rejects it as it rejects NaN logits. top-k runs k passes; pass i
// keeps the best element that ranks strictly after the one chosen in pass i-1, so it needs no scratch
// and leaves logits untouched. k <= n_cols.
//
// Grid:  (n_rows)
// Block: (1024)   any multiple of 32 up to 1024; __launch_bounds__(1024) keeps registers within
//                 what a 1024-thread block may use (64 per thread), or the launch fails
// Pointers:
//   logits     float [n_rows, n_cols]
//   out_index  int   [n_rows, k]    (k = 1 for argmax)
//   out_value  float [n_rows, k]
#include "common.cuh"
#include "logit_rank.cuh"

struct SampleParams
{
    const float* logits;
    int* out_index;
    float* out_value;
    int n_rows;
    int n_cols;
    int k;
    int pad0;
};
ACTORS_CHECK_SIZE(SampleParams, 40);

// The best (value, index) of the block among elements ranking strictly after (after_v, after_i);
// index -1 with -inf when none. Every thread returns the same pick. scratch: 64 words of shared memory.
__device__ __forceinline__ void block_best(const float* row, int n, bool bounded, float after_v, int after_i,
                                           float& best_v, int& best_i, float* scratch_v, int* scratch_i)
{
    float bv = NEG_INF;
    int bi = -1;
    strided_best(row, n, threadIdx.x, blockDim.x, bounded, after_v, after_i, bv, bi);
    for (int o = 16; o > 0; o >>= 1)
    {
        const float ov = __shfl_xor_sync(FULL_MASK, bv, o);
        const int oi = __shfl_xor_sync(FULL_MASK, bi, o);
        keep_better(bv, bi, ov, oi);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) { scratch_v[warp] = bv; scratch_i[warp] = bi; }
    __syncthreads();
    bv = lane < warps ? scratch_v[lane] : NEG_INF;
    bi = lane < warps ? scratch_i[lane] : -1;
    for (int o = 16; o > 0; o >>= 1)
    {
        const float ov = __shfl_xor_sync(FULL_MASK, bv, o);
        const int oi = __shfl_xor_sync(FULL_MASK, bi, o);
        keep_better(bv, bi, ov, oi);
    }
    best_v = bv;
    best_i = bi;
}

extern "C" __global__ void __launch_bounds__(1024) argmax_f32(const SampleParams p)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    const int r = blockIdx.x;
    if (r >= p.n_rows) return;
    float v;
    int i;
    block_best(p.logits + (u64)r * p.n_cols, p.n_cols, false, 0.0f, 0, v, i, sv, si);
    if (threadIdx.x == 0)
    {
        p.out_index[r] = i;
        p.out_value[r] = v;
    }
}

extern "C" __global__ void __launch_bounds__(1024) topk_f32(const SampleParams p)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    const int r = blockIdx.x;
    if (r >= p.n_rows) return;
    const float* row = p.logits + (u64)r * p.n_cols;
    const int n = p.n_cols;
    int* out_index = p.out_index + (u64)r * p.k;
    float* out_value = p.out_value + (u64)r * p.k;
    topk_passes(
        p.k,
        [&](bool bounded, float after_v, int after_i, float& v, int& i) { block_best(row, n, bounded, after_v, after_i, v, i, sv, si); },
        [=](int pass, float v, int i)
        {
            if (threadIdx.x == 0)
            {
                out_index[pass] = i;
                out_value[pass] = v;
            }
        });
}

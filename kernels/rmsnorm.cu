// rmsnorm.cu: RMSNorm of each row.
//     out[r, i] = x[r, i] * weight[i] / sqrt(mean_j(x[r, j]^2) + eps)
// The sum of squares is accumulated in f32 by the whole block. out may alias x.
//
// Grid:  (n_rows)
// Block: (256)   any multiple of 32 up to 1024
// Pointers:
//   x       float [n_rows, dim]
//   weight  float [dim]
//   out     float [n_rows, dim]
#include "common.cuh"

struct RmsNormParams
{
    const float* x;
    const float* weight;
    float* out;
    int n_rows;
    int dim;
    float eps;
    int pad0;
};
ACTORS_CHECK_SIZE(RmsNormParams, 40);

extern "C" __global__ void rmsnorm_f32(const RmsNormParams p)
{
    __shared__ float scratch[32];
    const int r = blockIdx.x;
    if (r >= p.n_rows) return;
    const float* x = p.x + (u64)r * p.dim;
    float* out = p.out + (u64)r * p.dim;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < p.dim; i += blockDim.x) ss += x[i] * x[i];
    ss = block_sum(ss, scratch);
    const float inv = rsqrtf(ss / (float)p.dim + p.eps);
    for (int i = threadIdx.x; i < p.dim; i += blockDim.x) out[i] = x[i] * inv * p.weight[i];
}

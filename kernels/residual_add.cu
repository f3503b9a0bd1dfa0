// residual_add.cu: the residual connection, in place.
//     x[i] = x[i] + y[i]
//
// Grid:  (min(ceil(n / 256), 65535))   grid-stride loop
// Block: (256)
// Pointers:
//   x   float [n]   updated in place (the residual stream, tokens * dim)
//   y   float [n]
#include "common.cuh"

struct ResidualAddParams
{
    float* x;
    const float* y;
    i64 n;
};
ACTORS_CHECK_SIZE(ResidualAddParams, 24);

extern "C" __global__ void residual_add_f32(const ResidualAddParams p)
{
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (i64)gridDim.x * blockDim.x)
        p.x[i] += p.y[i];
}

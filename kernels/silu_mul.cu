// silu_mul.cu: the SwiGLU activation of the feed-forward block.
//     out[i] = silu(gate[i]) * up[i],   silu(g) = g / (1 + exp(-g))
// out may alias gate or up.
//
// Grid:  (min(ceil(n / 256), 65535))   grid-stride loop
// Block: (256)
// Pointers:
//   gate, up, out   float [n]   (n = tokens * ffn, rows back to back)
#include "common.cuh"

struct SiluMulParams
{
    const float* gate;
    const float* up;
    float* out;
    i64 n;
};
ACTORS_CHECK_SIZE(SiluMulParams, 32);

extern "C" __global__ void silu_mul_f32(const SiluMulParams p)
{
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (i64)gridDim.x * blockDim.x)
    {
        const float g = p.gate[i];
        p.out[i] = g / (1.0f + expf(-g)) * p.up[i];
    }
}

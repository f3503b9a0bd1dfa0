// rope.cu: rotary position embedding, llama's NORM mode (adjacent pairs), applied in place to the
// queries and keys of every token. For pair i < n_rot/2 of every head, at position pos:
//     theta_extrap = pos * freq_base^(-2i/n_rot) / freq_factors[i]      (freq_factors optional)
//     theta_interp = freq_scale * theta_extrap                           (linear scaling)
//     theta        = theta_interp, or with YaRN (ext_factor != 0):
//                    ramp = 1 - clamp((i - corr_low) / max(0.001, corr_high - corr_low), 0, 1)
//                    theta = theta_interp*(1 - ramp*ext_factor) + theta_extrap*ramp*ext_factor
//     mscale       = attn_factor, times (1 + 0.1*ln(1/freq_scale)) with YaRN
//     (x0, x1)     = (x[2i], x[2i+1])
//     x[2i]   = (x0*cos(theta) - x1*sin(theta)) * mscale
//     x[2i+1] = (x0*sin(theta) + x1*cos(theta)) * mscale
// Elements at and beyond n_rot are left alone. This is ggml's rope_yarn in NORM mode.
//
// Grid:  (n_tokens, n_heads + n_kv_heads)   y < n_heads: query head y; else key head y - n_heads
// Block: (64)   pairs are strided over the block
// Pointers:
//   q             float [n_tokens, n_heads, head_dim]      rotated in place
//   k             float [n_tokens, n_kv_heads, head_dim]   rotated in place
//   positions     int   [n_tokens]
//   freq_factors  float [n_rot/2], or null
#include "common.cuh"

struct RopeParams
{
    float* q;
    float* k;
    const int* positions;
    const float* freq_factors;
    int n_tokens;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int n_rot;
    float freq_base;
    float freq_scale;
    float ext_factor;
    float attn_factor;
    float corr_low;
    float corr_high;
    int pad0;
};
ACTORS_CHECK_SIZE(RopeParams, 80);

extern "C" __global__ void rope_norm_f32(const RopeParams p)
{
    const int t = blockIdx.x, head = blockIdx.y;
    if (t >= p.n_tokens || head >= p.n_heads + p.n_kv_heads) return;
    float* x = head < p.n_heads
        ? p.q + ((u64)t * p.n_heads + head) * p.head_dim
        : p.k + ((u64)t * p.n_kv_heads + (head - p.n_heads)) * p.head_dim;
    const float pos = (float)p.positions[t];
    const int pairs = p.n_rot / 2;
    for (int i = threadIdx.x; i < pairs; i += blockDim.x)
    {
        float theta_extrap = pos * powf(p.freq_base, -2.0f * (float)i / (float)p.n_rot);
        if (p.freq_factors != 0) theta_extrap /= p.freq_factors[i];
        const float theta_interp = p.freq_scale * theta_extrap;
        float theta = theta_interp, mscale = p.attn_factor;
        if (p.ext_factor != 0.0f)
        {
            const float y = ((float)i - p.corr_low) / fmaxf(0.001f, p.corr_high - p.corr_low);
            const float ramp = (1.0f - fminf(1.0f, fmaxf(0.0f, y))) * p.ext_factor;
            theta = theta_interp * (1.0f - ramp) + theta_extrap * ramp;
            mscale *= 1.0f + 0.1f * logf(1.0f / p.freq_scale);
        }
        float s, c;
        sincosf(theta, &s, &c);
        c *= mscale;
        s *= mscale;
        const float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c - x1 * s;
        x[2 * i + 1] = x0 * s + x1 * c;
    }
}

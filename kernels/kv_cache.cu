// kv_cache.cu: write this step's keys and values into the paged KV cache through the slot mapping.
//     k_cache[slots[t], j] = k[t, j];  v_cache[slots[t], j] = v[t, j]    for j < kv_dim
// A pool is [num_blocks, block_size, n_kv_heads, head_dim], i.e. [num_blocks*block_size, kv_dim]
// slot-major, with slot = block * block_size + offset. A negative slot skips the token (padding).
// The _f16 entry rounds to nearest-even binary16.
//
// Grid:  (n_tokens)
// Block: (128)   strided over kv_dim
// Pointers:
//   k, v      float     [n_tokens, kv_dim]
//   slots     int       [n_tokens]
//   k_cache   f32|f16   [num_blocks * block_size, kv_dim]
//   v_cache   f32|f16   [num_blocks * block_size, kv_dim]
#include "common.cuh"

struct KvWriteParams
{
    const float* k;
    const float* v;
    const int* slots;
    void* k_cache;
    void* v_cache;
    int n_tokens;
    int kv_dim;
};
ACTORS_CHECK_SIZE(KvWriteParams, 48);

template <typename T>
__device__ __forceinline__ void kv_write(const KvWriteParams& p)
{
    const int t = blockIdx.x;
    if (t >= p.n_tokens) return;
    const int slot = p.slots[t];
    if (slot < 0) return;
    T* kc = (T*)p.k_cache;
    T* vc = (T*)p.v_cache;
    const u64 dst = (u64)slot * p.kv_dim, src = (u64)t * p.kv_dim;
    for (int j = threadIdx.x; j < p.kv_dim; j += blockDim.x)
    {
        store_kv(kc, dst + j, p.k[src + j]);
        store_kv(vc, dst + j, p.v[src + j]);
    }
}

extern "C" __global__ void kv_write_f32(const KvWriteParams p) { kv_write<float>(p); }
extern "C" __global__ void kv_write_f16(const KvWriteParams p) { kv_write<u16>(p); }

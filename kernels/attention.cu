// attention.cu: causal paged attention with grouped-query heads, reading K and V through block tables.
// For query token t of sequence s at position pos(t), head h, kv head g = h / (n_heads / n_kv_heads):
//     score(j) = scale * dot(q[t, h, :], K[s, j, g, :])           for key positions j = 0..pos(t)
//     out[t, h, :] = sum_j softmax_j(score) * V[s, j, g, :]
// where K[s, j] lives in slot block_tables[s, j / block_size] * block_size + j % block_size of the
// pool. This step's K/V must already be in the cache (kv_cache.cu runs first). Softmax is the
// online (running max and sum) form, so no [context]-sized buffer is needed.
//
// Two entry families share AttentionParams and differ in what a work item is:
//   attention_decode_{f32,f16}:  work item w = one query token (decode: one new token per sequence).
//       Grid:  (n_heads, n_work)
//       Block: (128) = 4 warps; warp k takes keys k, k+4, ...; lanes split head_dim (d = lane + 32i);
//              the four partial softmax states are merged through shared memory.
//   attention_prefill_{f32,f16}: work item w = a tile of up to 16 consecutive query tokens of one
//       sequence, starting at token work_token[w] and ending before seq_token_end[work_seq[w]].
//       Grid:  (n_heads, n_work)
//       Block: (128) = 4 warps, each owning 4 query rows of the tile.
//       Dynamic shared memory: (16*head_dim + 32*(head_dim+1) + 32*head_dim) * 4 bytes
//              (Q tile, K tile padded against bank conflicts, V tile); keys go in tiles of 32, one per
//              lane, flash-attention style.
// head_dim must be at most 256 (8 values per lane).
// Pointers:
//   q             float    [n_tokens, n_heads, head_dim]
//   k_cache       f32|f16  [num_blocks, block_size, n_kv_heads, head_dim]
//   v_cache       f32|f16  [num_blocks, block_size, n_kv_heads, head_dim]
//   out           float    [n_tokens, n_heads, head_dim]   rows of tokens not in any work item are untouched
//   block_tables  int      [n_seqs, block_table_width]
//   positions     int      [n_tokens]
//   work_seq      int      [n_work]   sequence of each work item
//   work_token    int      [n_work]   query token of a decode item, first token of a prefill tile
//   seq_token_end int      [n_seqs]   one past the last token of each sequence in this batch
#include "common.cuh"

#define ATTN_WARPS 4
#define ATTN_MAX_DIM_PER_LANE 8
#define PREFILL_TILE_Q 16
#define PREFILL_TILE_K 32
#define PREFILL_ROWS_PER_WARP (PREFILL_TILE_Q / ATTN_WARPS)

struct AttentionParams
{
    const float* q;
    const void* k_cache;
    const void* v_cache;
    float* out;
    const int* block_tables;
    const int* positions;
    const int* work_seq;
    const int* work_token;
    const int* seq_token_end;
    int n_work;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int block_size;
    int block_table_width;
    float scale;
    int pad0;
};
ACTORS_CHECK_SIZE(AttentionParams, 104);

// Cache index of element 0 of key/value position j of kv head g.
__device__ __forceinline__ u64 kv_base(const AttentionParams& p, const int* table, int j, int g)
{
    const int block = table[j / p.block_size];
    const u64 slot = (u64)block * p.block_size + (u64)(j % p.block_size);
    return (slot * p.n_kv_heads + g) * p.head_dim;
}

template <typename T>
__device__ __forceinline__ void attention_decode(const AttentionParams& p)
{
    __shared__ float s_acc[ATTN_WARPS][ATTN_MAX_DIM_PER_LANE * 32];
    __shared__ float s_max[ATTN_WARPS];
    __shared__ float s_sum[ATTN_WARPS];

    const int h = blockIdx.x, w = blockIdx.y;
    if (h >= p.n_heads || w >= p.n_work) return;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int t = p.work_token[w], s = p.work_seq[w];
    const int g = h / (p.n_heads / p.n_kv_heads);
    const int n_keys = p.positions[t] + 1;
    const int* table = p.block_tables + (u64)s * p.block_table_width;
    const T* kc = (const T*)p.k_cache;
    const T* vc = (const T*)p.v_cache;

    float q[ATTN_MAX_DIM_PER_LANE], acc[ATTN_MAX_DIM_PER_LANE];
    const float* qrow = p.q + ((u64)t * p.n_heads + h) * p.head_dim;
#pragma unroll
    for (int i = 0; i < ATTN_MAX_DIM_PER_LANE; i++)
    {
        const int d = lane + 32 * i;
        q[i] = d < p.head_dim ? qrow[d] * p.scale : 0.0f;
        acc[i] = 0.0f;
    }
    float m = NEG_INF, l = 0.0f;
    for (int j = warp; j < n_keys; j += ATTN_WARPS)
    {
        const u64 base = kv_base(p, table, j, g);
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < ATTN_MAX_DIM_PER_LANE; i++)
        {
            const int d = lane + 32 * i;
            if (d < p.head_dim) dot += q[i] * load_kv(kc, base + d);
        }
        dot = warp_sum(dot);
        const float m_new = fmaxf(m, dot);
        const float corr = expf(m - m_new);
        const float pj = expf(dot - m_new);
        l = l * corr + pj;
#pragma unroll
        for (int i = 0; i < ATTN_MAX_DIM_PER_LANE; i++)
        {
            const int d = lane + 32 * i;
            acc[i] = acc[i] * corr + (d < p.head_dim ? pj * load_kv(vc, base + d) : 0.0f);
        }
        m = m_new;
    }

    // Merge the warps' partial states: out = sum_w e^(m_w - M) acc_w / sum_w e^(m_w - M) l_w.
    if (lane == 0)
    {
        s_max[warp] = m;
        s_sum[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < ATTN_MAX_DIM_PER_LANE; i++) s_acc[warp][lane + 32 * i] = acc[i];
    __syncthreads();
    float big = NEG_INF;
    for (int k = 0; k < ATTN_WARPS; k++) big = fmaxf(big, s_max[k]);
    float total = 0.0f;
    float factor[ATTN_WARPS];
    for (int k = 0; k < ATTN_WARPS; k++)
    {
        factor[k] = s_max[k] == NEG_INF ? 0.0f : expf(s_max[k] - big);
        total += factor[k] * s_sum[k];
    }
    float* orow = p.out + ((u64)t * p.n_heads + h) * p.head_dim;
    for (int d = threadIdx.x; d < p.head_dim; d += blockDim.x)
    {
        float v = 0.0f;
        for (int k = 0; k < ATTN_WARPS; k++) v += factor[k] * s_acc[k][d];
        orow[d] = v / total;
    }
}

template <typename T>
__device__ __forceinline__ void attention_prefill(const AttentionParams& p)
{
    extern __shared__ float smem[];
    const int hd = p.head_dim;
    float* s_q = smem;                                  // [TILE_Q][hd], pre-scaled
    float* s_k = s_q + PREFILL_TILE_Q * hd;             // [TILE_K][hd + 1]
    float* s_v = s_k + PREFILL_TILE_K * (hd + 1);       // [TILE_K][hd]

    const int h = blockIdx.x, w = blockIdx.y;
    if (h >= p.n_heads || w >= p.n_work) return;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int s = p.work_seq[w], t0 = p.work_token[w];
    const int nq = min(PREFILL_TILE_Q, p.seq_token_end[s] - t0);
    const int g = h / (p.n_heads / p.n_kv_heads);
    const int n_keys = p.positions[t0 + nq - 1] + 1;
    const int* table = p.block_tables + (u64)s * p.block_table_width;
    const T* kc = (const T*)p.k_cache;
    const T* vc = (const T*)p.v_cache;

    for (int idx = threadIdx.x; idx < PREFILL_TILE_Q * hd; idx += blockDim.x)
    {
        const int r = idx / hd, d = idx % hd;
        s_q[idx] = r < nq ? p.q[((u64)(t0 + r) * p.n_heads + h) * hd + d] * p.scale : 0.0f;
    }

    float m[PREFILL_ROWS_PER_WARP], l[PREFILL_ROWS_PER_WARP], acc[PREFILL_ROWS_PER_WARP][ATTN_MAX_DIM_PER_LANE];
    int pos[PREFILL_ROWS_PER_WARP];
#pragma unroll
    for (int rr = 0; rr < PREFILL_ROWS_PER_WARP; rr++)
    {
        const int r = warp * PREFILL_ROWS_PER_WARP + rr;
        m[rr] = NEG_INF;
        l[rr] = 0.0f;
        pos[rr] = r < nq ? p.positions[t0 + r] : -1;
#pragma unroll
        for (int i = 0; i < ATTN_MAX_DIM_PER_LANE; i++) acc[rr][i] = 0.0f;
    }

    for (int kb = 0; kb < n_keys; kb += PREFILL_TILE_K)
    {
        __syncthreads(); // the previous tile is no longer read (and s_q is complete on the first pass)
        for (int idx = threadIdx.x; idx < PREFILL_TILE_K * hd; idx += blockDim.x)
        {
            const int j = idx / hd, d = idx % hd, key = kb + j;
            float kv = 0.0f, vv = 0.0f;
            if (key < n_keys)
            {
                const u64 base = kv_base(p, table, key, g);
                kv = load_kv(kc, base + d);
                vv = load_kv(vc, base + d);
            }
            s_k[j * (hd + 1) + d] = kv;
            s_v[j * hd + d] = vv;
        }
        __syncthreads();

#pragma unroll
        for (int rr = 0; rr < PREFILL_ROWS_PER_WARP; rr++)
        {
            if (pos[rr] < kb) continue; // row absent, or every key of this tile is in its future (warp-uniform)
            const float* qrow = s_q + (warp * PREFILL_ROWS_PER_WARP + rr) * hd;
            const int key = kb + lane;
            float score = NEG_INF;
            if (key <= pos[rr])
            {
                const float* krow = s_k + lane * (hd + 1);
                float dot = 0.0f;
                for (int d = 0; d < hd; d++) dot += qrow[d] * krow[d];
                score = dot;
            }
            const float m_new = fmaxf(m[rr], warp_max(score));
            const float pj = score == NEG_INF ? 0.0f : expf(score - m_new);
            const float corr = m[rr] == NEG_INF ? 0.0f : expf(m[rr] - m_new);
            l[rr] = l[rr] * corr + warp_sum(pj);
#pragma unroll
            for (int i = 0; i < ATTN_MAX_DIM_PER_LANE; i++) acc[rr][i] *= corr;
            for (int j = 0; j < PREFILL_TILE_K; j++)
            {
                const float pjj = __shfl_sync(FULL_MASK, pj, j);
                const float* vrow = s_v + j * hd;
#pragma unroll
                for (int i = 0; i < ATTN_MAX_DIM_PER_LANE; i++)
                {
                    const int d = lane + 32 * i;
                    if (d < hd) acc[rr][i] += pjj * vrow[d];
                }
            }
            m[rr] = m_new;
        }
    }

#pragma unroll
    for (int rr = 0; rr < PREFILL_ROWS_PER_WARP; rr++)
    {
        const int r = warp * PREFILL_ROWS_PER_WARP + rr;
        if (r >= nq) continue;
        float* orow = p.out + ((u64)(t0 + r) * p.n_heads + h) * hd;
        const float inv = 1.0f / l[rr];
#pragma unroll
        for (int i = 0; i < ATTN_MAX_DIM_PER_LANE; i++)
        {
            const int d = lane + 32 * i;
            if (d < hd) orow[d] = acc[rr][i] * inv;
        }
    }
}

extern "C" __global__ void attention_decode_f32(const AttentionParams p) { attention_decode<float>(p); }
extern "C" __global__ void attention_decode_f16(const AttentionParams p) { attention_decode<u16>(p); }
extern "C" __global__ void attention_prefill_f32(const AttentionParams p) { attention_prefill<float>(p); }
extern "C" __global__ void attention_prefill_f16(const AttentionParams p) { attention_prefill<u16>(p); }

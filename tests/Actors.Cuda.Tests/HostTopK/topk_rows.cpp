// topk_rows.cpp: kernels/logit_rank.cuh compiled for the host, driven the way sampling.cu's topk_f32
// drives it (a block of threads scanning strided elements, two rounds of warp butterflies over
// __shfl_xor_sync, topk_passes), so HostTopKTests can compare the device's top-k with the CPU's
// LogitTopK without a GPU.
//   topk_rows < (i32 rows, cols, k, threads; f32 logits[rows, cols]) > (i32 index[rows, k]; f32 value[rows, k])
// threads: the block size, a multiple of 32 up to 1024 (the kernel launches 1024).
// Built by the test with: g++ -std=c++17 -O2 -Wall -Wextra -I <dir of the header>  (no -ffast-math: NaN matters)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define __host__
#define __device__
#define __forceinline__ inline
#include "logit_rank.cuh"

// Every lane at once takes the better of itself and lane ^ o, for o = 16, 8, 4, 2, 1: a warp's __shfl_xor_sync rounds.
static void butterfly(float* v, int* ix)
{
    for (int o = 16; o > 0; o >>= 1)
    {
        float ov[32];
        int oi[32];
        for (int l = 0; l < 32; l++) { ov[l] = v[l ^ o]; oi[l] = ix[l ^ o]; }
        for (int l = 0; l < 32; l++) keep_better(v[l], ix[l], ov[l], oi[l]);
    }
}

// sampling.cu's block_best for a block of `threads`; exits 3 if the lanes of the last round disagree
// (topk_passes relies on every thread of the block holding the same pick).
static void block_best(const float* row, int n, int threads, bool bounded, float after_v, int after_i, float& best_v, int& best_i)
{
    std::vector<float> v(threads, -INFINITY);
    std::vector<int> ix(threads, -1);
    for (int t = 0; t < threads; t++) strided_best(row, n, t, threads, bounded, after_v, after_i, v[t], ix[t]);
    const int warps = threads / 32;
    float sv[32], lv[32];
    int si[32], li[32];
    for (int w = 0; w < warps; w++)
    {
        butterfly(&v[32 * w], &ix[32 * w]);
        sv[w] = v[32 * w];
        si[w] = ix[32 * w];
    }
    for (int l = 0; l < 32; l++) { lv[l] = l < warps ? sv[l] : -INFINITY; li[l] = l < warps ? si[l] : -1; }
    butterfly(lv, li);
    for (int l = 1; l < 32; l++)
        if (li[l] != li[0])
        {
            fprintf(stderr, "topk_rows: lanes 0 and %d of the last round disagree (%d, %d)\n", l, li[0], li[l]);
            exit(3);
        }
    best_v = lv[0];
    best_i = li[0];
}

int main()
{
    int head[4];
    if (fread(head, sizeof(int), 4, stdin) != 4)
    {
        fprintf(stderr, "topk_rows: expected rows, cols, k, threads (i32) on stdin\n");
        return 2;
    }
    const int rows = head[0], cols = head[1], k = head[2], threads = head[3];
    if (rows < 0 || cols < 1 || k < 1 || k > cols || threads < 32 || threads > 1024 || threads % 32 != 0)
    {
        fprintf(stderr, "topk_rows: bad shape rows=%d cols=%d k=%d threads=%d\n", rows, cols, k, threads);
        return 2;
    }
    std::vector<float> logits((size_t)rows * cols);
    if (fread(logits.data(), sizeof(float), logits.size(), stdin) != logits.size())
    {
        fprintf(stderr, "topk_rows: expected %zu logits on stdin\n", logits.size());
        return 2;
    }
    std::vector<int> index((size_t)rows * k);
    std::vector<float> value((size_t)rows * k);
    for (int r = 0; r < rows; r++)
    {
        const float* row = &logits[(size_t)r * cols];
        topk_passes(
            k,
            [&](bool bounded, float after_v, int after_i, float& v, int& i) { block_best(row, cols, threads, bounded, after_v, after_i, v, i); },
            [&](int pass, float v, int i)
            {
                index[(size_t)r * k + pass] = i;
                value[(size_t)r * k + pass] = v;
            });
    }
    fwrite(index.data(), sizeof(int), index.size(), stdout);
    fwrite(value.data(), sizeof(float), value.size(), stdout);
    return 0;
}

// logit_rank.cuh: the order sampling.cu's argmax and top-k kernels rank a row's logits in, and top-k's
// pass structure, as `__host__ __device__` functions: the same text is compiled by NVRTC for the kernels
// and by the system C++ compiler for a host test that compares the selection with the CPU's LogitTopK
// without a GPU (tests/Actors.Cuda.Tests/HostTopKTests.cs, harness HostTopK/topk_rows.cpp).
// Includes nothing and needs nothing defined.
//
// Order: NaN before everything, then larger value first (+inf the largest), equal values by smaller
// index. So a row holding NaN reports its first NaN as its best, in every slot of its top-k, exactly
// as LogitTopK does on the CPU, and the host rejects the row as the sampler rejects NaN logits
// (rather than choosing a token from the rest of a broken row).
#pragma once

// (av, ai) ranks before (bv, bi); a strict total order when the indices differ.
__host__ __device__ __forceinline__ bool ranks_before(float av, int ai, float bv, int bi)
{
    const bool a_nan = av != av, b_nan = bv != bv;
    if (a_nan || b_nan) return a_nan && (!b_nan || ai < bi);
    return av > bv || (av == bv && ai < bi);
}

// Keeps in (bv, bi) the better of itself and (ov, oi); index -1 means none.
__host__ __device__ __forceinline__ void keep_better(float& bv, int& bi, float ov, int oi)
{
    if (oi >= 0 && (bi < 0 || ranks_before(ov, oi, bv, bi))) { bv = ov; bi = oi; }
}

// One thread's share of a pass: the best of row[j], j = first, first + stride, ... < n, among those
// ranking strictly after (after_v, after_i) when bounded, kept into (bv, bi).
__host__ __device__ __forceinline__ void strided_best(const float* row, int n, int first, int stride, bool bounded,
                                                      float after_v, int after_i, float& bv, int& bi)
{
    for (int j = first; j < n; j += stride)
    {
        const float v = row[j];
        if (bounded && !ranks_before(after_v, after_i, v, j)) continue;
        keep_better(bv, bi, v, j);
    }
}

// Top-k of one row in k passes: best(bounded, after_v, after_i, v, i) sets (v, i) to the best element
// ranking strictly after the previous pick (bounded from the second pass on), and put(pass, v, i)
// stores it. A NaN pick is the row's first NaN and fills every remaining slot without another pass.
// best is called alike by every thread of a block (the pick it returns is the block's), so a block
// leaves the loop together.
template <typename Best, typename Put>
__host__ __device__ __forceinline__ void topk_passes(int k, Best best, Put put)
{
    float v = 0.0f;
    int i = 0;
    for (int pass = 0; pass < k; pass++)
    {
        if (pass == 0 || v == v) best(pass > 0, v, i, v, i);
        put(pass, v, i);
    }
}

// simt.h: a CPU emulation of the CUDA subset that kernels/*.cu use, for tools/emulated-gpu-tests.sh.
// One OS thread per CUDA thread of a block; std::barrier implements __syncthreads and, per warp, the shuffles.
// Blocks run one after another, so function-scope statics serve as __shared__ memory. It checks
// logic (indexing, reductions, block/warp cooperation), not timing, memory ordering or coalescing.
#pragma once
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <barrier>
#include <thread>
#include <vector>
#include <memory>
#include <functional>
#include <algorithm>
struct dim3 { unsigned x = 1, y = 1, z = 1; };
inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim, gridDim;
inline float* emu_dynamic_smem = nullptr;
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
#define __global__
#define __launch_bounds__(...)
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline float emu_h2f(unsigned short h) { _Float16 v; memcpy(&v, &h, 2); return (float)v; }
inline unsigned short emu_f2h(float f) { _Float16 v = (_Float16)f; unsigned short h; memcpy(&h, &v, 2); return h; }
using Barrier = std::barrier<>;
inline Barrier* emu_block_barrier;
inline std::vector<std::unique_ptr<Barrier>> emu_warp_barriers;
inline unsigned long long emu_shfl[1024];
inline int emu_tid() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }
template <class T> T emu_shfl_from(T v, int srcLane)
{
    int tid = emu_tid(), warp = tid / 32;
    memcpy(&emu_shfl[tid], &v, sizeof(T));
    emu_warp_barriers[warp]->arrive_and_wait();
    T r;
    memcpy(&r, &emu_shfl[warp * 32 + (srcLane & 31)], sizeof(T));
    emu_warp_barriers[warp]->arrive_and_wait();
    return r;
}
template <class T> T __shfl_xor_sync(unsigned, T v, int o) { return emu_shfl_from(v, (emu_tid() % 32) ^ o); }
template <class T> T __shfl_sync(unsigned, T v, int src) { return emu_shfl_from(v, src); }

// Runs every block of a launch with one set of blockDim OS threads: each thread runs the kernel body
// for block 0, 1, 2, ...; between blocks all threads meet at `done` and thread 0 renews the block and
// warp barriers (a thread that returned early dropped out of the old ones) and refills shared memory.
inline void emu_launch(const std::function<void()>& body, dim3 grid, dim3 block, unsigned smem)
{
    gridDim = grid;
    blockDim = block;
    const unsigned n = block.x * block.y * block.z;
    const unsigned long long blocks = (unsigned long long)grid.x * grid.y * grid.z;
    std::vector<float> dyn((smem + 3) / 4 + 1);
    std::unique_ptr<Barrier> blockBarrier;
    auto renew = [&] {
        std::fill(dyn.begin(), dyn.end(), __uint_as_float(0x7fc00001u)); // garbage, as real shared memory is
        emu_dynamic_smem = dyn.data();
        blockBarrier = std::make_unique<Barrier>(n);
        emu_block_barrier = blockBarrier.get();
        emu_warp_barriers.clear();
        for (unsigned w = 0; w < (n + 31) / 32; w++) emu_warp_barriers.push_back(std::make_unique<Barrier>(std::min(32u, n - 32 * w)));
    };
    renew();
    Barrier done(n);
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (unsigned t = 0; t < n; t++)
        threads.emplace_back([&, t] {
            threadIdx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
            for (unsigned long long b = 0; b < blocks; b++)
            {
                blockIdx = dim3{(unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y), (unsigned)(b / ((unsigned long long)grid.x * grid.y))};
                body();
                emu_warp_barriers[t / 32]->arrive_and_drop();
                emu_block_barrier->arrive_and_drop();
                done.arrive_and_wait();
                if (t == 0) renew();
                done.arrive_and_wait();
            }
        });
    for (auto& th : threads) th.join();
}

// fake_driver.cpp: a stand-in libcuda.so.1 for tools/emulated-gpu-tests.sh. It implements the driver
// API subset Actors.Interop binds, on the host: device memory is host memory, streams and copies are
// synchronous, and cuLaunchKernel runs the kernel's CPU emulation from libkernels.so (kernels/*.cu
// compiled against simt.h). It presents two "Fake RTX 3090 (emulated)" devices (one with
// ACTORS_EMU_ONE_DEVICE=1), compute capability 8.6, and rejects what a real driver would: copies that
// leave an allocation, frees of unknown pointers, launches above the block, grid or shared-memory limits,
// calls without a current context, and unknown kernel names.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <dlfcn.h>
#include <chrono>
typedef unsigned long long CUdeviceptr;
static std::mutex gate;
static std::map<CUdeviceptr, size_t> allocations;
static size_t allocated = 0;
static const int DEVICES = 2;
static const size_t TOTAL = 24ull << 30;
static bool initialized = false;
static int ctxTokens[DEVICES];
static thread_local void* current = nullptr;
static void* emu = nullptr;
// ACTORS_EMU_FAIL_KERNEL=<name>: launching that kernel poisons the context the way an illegal
// address does on a GPU: the launch itself succeeds, every later call fails with 700.
static int sticky = 0;
struct Func { void (*fn)(const void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned); std::string name; int maxDyn = 48 * 1024; };
static void log(const char* fmt, const char* a) { if (getenv("ACTORS_EMU_LOG")) fprintf(stderr, fmt, a); }

// Is [p, p+n) inside one allocation (device) or not device memory at all?
static int classify(CUdeviceptr p, size_t n)
{
    std::lock_guard<std::mutex> l(gate);
    auto it = allocations.upper_bound(p);
    if (it == allocations.begin()) return 0;
    --it;
    if (p >= it->first && p < it->first + it->second) return p + n <= it->first + it->second ? 1 : -1;
    return 0;
}
static int devrange(CUdeviceptr p, size_t n, const char* what)
{
    int c = classify(p, n);
    if (c == 1) return 0;
    fprintf(stderr, "fake libcuda: %s: [%llx, +%zu) is %s\n", what, p, n, c == 0 ? "not device memory" : "outside its allocation");
    return 1;
}
extern "C" {
int cuInit(unsigned f) { if (f) return 1; initialized = true; return 0; }
int cuDriverGetVersion(int* v) { *v = 12020; return 0; }
int cuDeviceGetCount(int* c) { if (!initialized) return 3; *c = getenv("ACTORS_EMU_ONE_DEVICE") ? 1 : DEVICES; return 0; }
int cuDeviceGet(int* d, int o) { if (o < 0 || o >= DEVICES) return 101; *d = o; return 0; }
int cuDeviceGetAttribute(int* v, int a, int d)
{
    switch (a)
    {
        case 1: *v = 1024; break; case 8: *v = 48 * 1024; break; case 10: *v = 32; break; case 13: *v = 1695000; break;
        case 16: *v = 82; break; case 33: *v = d == 0 ? 0x01 : 0x41; break; case 34: *v = 0; break; case 36: *v = 9751000; break;
        case 37: *v = 384; break; case 38: *v = 6 << 20; break; case 40: *v = 2; break; case 41: *v = 1; break; case 50: *v = 0; break;
        case 75: *v = 8; break; case 76: *v = 6; break; case 97: *v = 101376; break;
        default: *v = 0;
    }
    return 0;
}
int cuDeviceGetName(char* n, int len, int d) { snprintf(n, len, "Fake RTX 3090 (emulated) #%d", d); return 0; }
int cuDeviceTotalMem_v2(size_t* b, int) { *b = TOTAL; return 0; }
int cuDeviceGetPCIBusId(char* s, int len, int d) { snprintf(s, len, "0000:%02X:00.0", d == 0 ? 1 : 0x41); return 0; }
int cuDevicePrimaryCtxRetain(void** c, int d) { ctxTokens[d]++; *c = (void*)(uintptr_t)(0x1000 + d); return 0; }
int cuDevicePrimaryCtxRelease_v2(int d) { if (ctxTokens[d] <= 0) return 201; ctxTokens[d]--; return 0; }
int cuCtxSetCurrent(void* c) { current = c; return 0; }
int cuCtxGetCurrent(void** c) { *c = current; return 0; }
int cuCtxSynchronize() { return sticky ? sticky : current ? 0 : 201; }
int cuCtxEnablePeerAccess(void* peer, unsigned f) { return f ? 1 : (peer == current ? 1 : 0); }
int cuDeviceCanAccessPeer(int* can, int a, int b) { *can = a != b; return 0; }
int cuMemGetInfo_v2(size_t* f, size_t* t) { if (!current) return 201; *t = TOTAL; *f = TOTAL - allocated; return 0; }
int cuMemAlloc_v2(CUdeviceptr* p, size_t n)
{
    if (!current) return 201;
    if (n == 0) return 1;
    if (allocated + n > TOTAL) return 2;
    void* m = nullptr;
    if (posix_memalign(&m, 256, n)) m = nullptr; // exact size, so AddressSanitizer sees overruns
    if (!m) return 2;
    memset(m, 0xCD, n); // garbage, as fresh device memory is
    std::lock_guard<std::mutex> l(gate);
    allocations[(CUdeviceptr)m] = n;
    allocated += n;
    *p = (CUdeviceptr)m;
    return 0;
}
int cuMemFree_v2(CUdeviceptr p)
{
    std::lock_guard<std::mutex> l(gate);
    auto it = allocations.find(p);
    if (it == allocations.end()) { fprintf(stderr, "fake libcuda: cuMemFree of unknown %llx\n", p); return 1; }
    allocated -= it->second;
    allocations.erase(it);
    free((void*)p);
    return 0;
}
int cuMemHostAlloc(void** p, size_t n, unsigned) { if (!current) return 201; *p = aligned_alloc(4096, (n + 4095) / 4096 * 4096); return *p ? 0 : 2; }
int cuMemFreeHost(void* p) { free(p); return 0; }
int cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void* s, size_t n, void*) { if (sticky) return sticky; if (devrange(d, n, "HtoD dst")) return 1; memcpy((void*)d, s, n); return 0; }
int cuMemcpyDtoHAsync_v2(void* d, CUdeviceptr s, size_t n, void*) { if (sticky) return sticky; if (devrange(s, n, "DtoH src")) return 1; memcpy(d, (void*)s, n); return 0; }
int cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void*) { if (sticky) return sticky; if (devrange(d, n, "DtoD dst") || devrange(s, n, "DtoD src")) return 1; memmove((void*)d, (void*)s, n); return 0; }
int cuMemcpyPeerAsync(CUdeviceptr d, void*, CUdeviceptr s, void*, size_t n, void*) { if (devrange(d, n, "peer dst") || devrange(s, n, "peer src")) return 1; memmove((void*)d, (void*)s, n); return 0; }
int cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void*) { if (sticky) return sticky; if (devrange(d, n, "memset")) return 1; memset((void*)d, v, n); return 0; }
int cuModuleLoadDataEx(void** m, const void* image, unsigned, int*, void**)
{
    const unsigned char* b = (const unsigned char*)image;
    if (!(b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F') && !strstr((const char*)image, ".version")) return 200;
    if (!emu)
    {
        const char* path = getenv("ACTORS_EMU_KERNELS");
        emu = dlopen(path ? path : "libkernels.so", RTLD_NOW);
        if (!emu) { fprintf(stderr, "fake libcuda: %s\n", dlerror()); return 200; }
    }
    *m = (void*)0x5000;
    return 0;
}
int cuModuleGetFunction(void** f, void*, const char* name)
{
    std::string sym = std::string("emu_") + name;
    void* fn = dlsym(emu, sym.c_str());
    if (!fn) return 500;
    auto* fu = new Func{(decltype(Func::fn))fn, name};
    *f = fu;
    return 0;
}
int cuModuleUnload(void*) { return 0; }
int cuFuncSetAttribute(void* f, int a, int v) { if (a == 8) { if (v > 101376) return 1; ((Func*)f)->maxDyn = v; } return 0; }
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned smem, void*, void** params, void** extra)
{
    Func* fu = (Func*)f;
    if (!current) return 201;
    if (sticky) return sticky;
    const char* poison = getenv("ACTORS_EMU_FAIL_KERNEL");
    if (poison && fu->name == poison) { sticky = 700; return 0; }
    if (bx * by * bz > 1024 || bx * by * bz == 0 || gy > 65535 || gz > 65535 || gx == 0 || gy == 0 || gz == 0 || extra) { fprintf(stderr, "fake libcuda: bad launch of %s\n", fu->name.c_str()); return 1; }
    if ((int)smem > fu->maxDyn) { fprintf(stderr, "fake libcuda: %s asks %u bytes of shared memory, limit %d\n", fu->name.c_str(), smem, fu->maxDyn); return 1; }
    log("fake libcuda: launch %s\n", fu->name.c_str());
    fu->fn(params[0], gx, gy, gz, bx, by, bz, smem);
    return 0;
}
int cuStreamCreate(void** s, unsigned) { if (!current) return 201; *s = malloc(1); return 0; }
int cuStreamSynchronize(void*) { return sticky; }
int cuStreamWaitEvent(void*, void*, unsigned) { return 0; }
int cuStreamDestroy_v2(void* s) { free(s); return 0; }
int cuEventCreate(void** e, unsigned) { *e = new double(0); return 0; }
int cuEventRecord(void* e, void*) { *(double*)e = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); return 0; }
int cuEventSynchronize(void*) { return 0; }
int cuEventElapsedTime(float* ms, void* a, void* b) { *ms = (float)(*(double*)b - *(double*)a); return 0; }
int cuEventDestroy_v2(void* e) { delete (double*)e; return 0; }
int cuGetErrorName(int c, const char** s) { static char buf[64]; snprintf(buf, 64, "CUDA_ERROR_FAKE_%d", c); *s = c == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : c == 700 ? "CUDA_ERROR_ILLEGAL_ADDRESS" : buf; return 0; }
int cuGetErrorString(int c, const char** s) { *s = c == 2 ? "out of memory" : "fake driver error"; return 0; }
}

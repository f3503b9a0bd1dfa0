// fake_cublas.cpp: a stand-in libcublas.so.12 for tools/emulated-gpu-tests.sh: handle calls and a
// naive column-major cublasGemmEx as the cuBLAS documentation defines it (A, B of R_32F or R_16F,
// C of R_32F, CUBLAS_COMPUTE_32F, float alpha/beta), so the executor's GEMM path runs end to end.
#include <cstdio>
#include <cstring>
#include <cstdlib>
// Like the real cuBLAS, cublasSetStream resets the handle to cuBLAS's own workspace pool; a GEMM that
// then runs uses memory nobody planned for, which emu_cublas_gemms_on_default_workspace() counts.
struct Handle { bool userWorkspace = false; };
static long gemmsOnDefaultWorkspace = 0;
extern "C" {
long emu_cublas_gemms_on_default_workspace(void) { return gemmsOnDefaultWorkspace; }
int cublasCreate_v2(void** h) { *h = new Handle(); return 0; }
int cublasDestroy_v2(void* h) { delete (Handle*)h; return 0; }
int cublasSetStream_v2(void* h, void*) { ((Handle*)h)->userWorkspace = false; return 0; }
int cublasSetWorkspace_v2(void* h, void* w, size_t n) { ((Handle*)h)->userWorkspace = w != nullptr && n > 0; return 0; }
int cublasSetMathMode(void*, int) { return 0; }
int cublasGetVersion_v2(void*, int* v) { *v = 120000; return 0; }
const char* cublasGetStatusString(int) { return "fake"; }
static float get(const void* p, int type, long i)
{
    if (type == 0) return ((const float*)p)[i];
    if (type == 2) { _Float16 h; memcpy(&h, (const char*)p + 2 * i, 2); return (float)h; }
    return 0;
}
int cublasGemmEx(void* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int at, int lda,
                 const void* B, int bt, int ldb, const void* beta, void* C, int ct, int ldc, int compute, int algo)
{
    if (compute != 68 || algo != -1 || ct != 0 || (at != 0 && at != 2) || at != bt) { fprintf(stderr, "fake cublas: unsupported types %d %d %d compute %d\n", at, bt, ct, compute); return 15; }
    if (lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m) { fprintf(stderr, "fake cublas: bad leading dims\n"); return 7; }
    if (!((Handle*)h)->userWorkspace) gemmsOnDefaultWorkspace++;
    float a = *(const float*)alpha, b = *(const float*)beta;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++)
        {
            double s = 0;
            for (int p = 0; p < k; p++)
            {
                float av = ta ? get(A, at, p + (long)i * lda) : get(A, at, i + (long)p * lda);
                float bv = tb ? get(B, bt, j + (long)p * ldb) : get(B, bt, p + (long)j * ldb);
                s += (double)av * bv;
            }
            float* c = (float*)C + i + (long)j * ldc;
            *c = (float)(a * s + (b == 0 ? 0 : b * *c));
        }
    return 0;
}
}

// decode_groups.cpp: kernels/ggml_groups.cuh compiled for the host, so HostDecodeTests can compare its
// decoders bit for bit with the C# reference decoders without a GPU.
//   decode_groups <ggml type id> < blocks > floats
// stdin: whole blocks of that type, read as one row. stdout: the row's values twice, as f32 little
// endian: first from decode8_row (group by group, as matvec and dequant read them), then from
// group_element (one element at a time, as the embedding gather reads them).
// Built by the test with: g++ -std=c++17 -O2 -ffp-contract=off -fno-strict-aliasing -I <dir of the header>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define __host__
#define __device__
#define __forceinline__ inline
typedef unsigned char u8;
typedef signed char i8;
typedef unsigned short u16;
typedef unsigned int u32;
#include "ggml_groups.cuh"

template <int TYPE>
static void run(const std::vector<u8>& bytes)
{
    const size_t blocks = bytes.size() / group_block_bytes(TYPE);
    const int cols = (int)(blocks * group_block_elements(TYPE));
    std::vector<float> out(2 * (size_t)cols);
    for (int g = 0; g < cols / 8; g++) decode8_row<TYPE>(bytes.data(), g, &out[8 * (size_t)g]);
    for (int e = 0; e < cols; e++) out[(size_t)cols + e] = group_element<TYPE>(bytes.data(), e);
    fwrite(out.data(), sizeof(float), out.size(), stdout);
}

int main(int argc, char** argv)
{
    if (argc != 2)
    {
        fprintf(stderr, "usage: decode_groups <ggml type id> < blocks > floats\n");
        return 2;
    }
    std::vector<u8> bytes;
    u8 buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) bytes.insert(bytes.end(), buf, buf + n);
    const int type = atoi(argv[1]);
    const int bb = group_block_bytes(type);
    if (bb == 0 || bytes.size() % bb != 0)
    {
        fprintf(stderr, "decode_groups: type %d is not a group type or %zu bytes are not whole blocks\n", type, bytes.size());
        return 2;
    }
    switch (type)
    {
        case GGML_Q4_1: run<GGML_Q4_1>(bytes); break;
        case GGML_Q5_0: run<GGML_Q5_0>(bytes); break;
        case GGML_Q5_1: run<GGML_Q5_1>(bytes); break;
        case GGML_IQ4_NL: run<GGML_IQ4_NL>(bytes); break;
        case GGML_Q2_K: run<GGML_Q2_K>(bytes); break;
        case GGML_Q3_K: run<GGML_Q3_K>(bytes); break;
        case GGML_Q5_K: run<GGML_Q5_K>(bytes); break;
        case GGML_IQ4_XS: run<GGML_IQ4_XS>(bytes); break;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

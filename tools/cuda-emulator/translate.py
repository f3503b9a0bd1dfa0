#!/usr/bin/env python3
"""translate.py KERNELS_DIR OUT_DIR: turns kernels/*.cu into C++ for the CPU emulation.

Only three textual changes: the two inline-PTX f16 conversions in common.cuh become _Float16 casts
(same round-to-nearest-even), `extern __shared__` becomes the emulator's dynamic shared buffer, and
every `extern "C" __global__ void name(const Params p)` gets an `emu_name(params, grid, block, smem)`
entry point that fake_driver.cpp calls from cuLaunchKernel."""
import os, re, sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
common = open(os.path.join(src, "common.cuh")).read()
for ptx, cpp in [('asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));', "f = emu_h2f(h);"),
                 ('asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));', "h = emu_f2h(f);")]:
    if ptx not in common:
        sys.exit(f"translate.py: common.cuh no longer contains {ptx!r}; update the translation")
    common = common.replace(ptx, cpp)
if "asm(" in common:
    sys.exit("translate.py: common.cuh has inline PTX the emulator does not know")
open(os.path.join(out, "common.cuh"), "w").write('#include "simt.h"\n' + common)
# The other headers hold __host__ __device__ code whose device-only parts sit under #ifdef __CUDA_ARCH__,
# which the emulator leaves undefined: they are used as they are.
for name in sorted(os.listdir(src)):
    if name.endswith(".cuh") and name != "common.cuh":
        open(os.path.join(out, name), "w").write(open(os.path.join(src, name)).read())
for name in sorted(os.listdir(src)):
    if not name.endswith(".cu"):
        continue
    text = open(os.path.join(src, name)).read()
    if "asm(" in text:
        sys.exit(f"translate.py: {name} has inline PTX the emulator does not know")
    text = text.replace("extern __shared__ float smem[];", "float* smem = emu_dynamic_smem;")
    entries = re.findall(r'extern "C" __global__ void (?:__launch_bounds__\(\d+\)\s*)?(\w+)\(const (\w+) p\)', text)
    wrappers = [f'''extern "C" void emu_{k}(const void* p, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned smem)
{{
    {t} params;
    memcpy(&params, p, sizeof(params));
    emu_launch([&] {{ {k}(params); }}, dim3{{gx, gy, gz}}, dim3{{bx, by, bz}}, smem);
}}
''' for k, t in entries]
    open(os.path.join(out, name + ".cpp"), "w").write(text + "\n" + "\n".join(wrappers))

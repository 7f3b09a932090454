#include "CKernels.h"

/* The one CPU probe of the kernels: every runtime dispatch reads these bits, computed once. */
unsigned llmrec_cpu_features(void) {
#if defined(__x86_64__)
    static int probed = 0;
    static unsigned features = 0;
    if (!probed) {
        __builtin_cpu_init();
        unsigned found = 0;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) found |= LLMREC_CPU_AVX2_FMA;
        if (__builtin_cpu_supports("f16c")) found |= LLMREC_CPU_F16C;
        if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) found |= LLMREC_CPU_AVX512_VNNI;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16")) found |= LLMREC_CPU_AVX512_BF16;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
            found |= LLMREC_CPU_AVX512_CORE;
        features = found;
        probed = 1;
    }
    return features;
#else
    return 0;
#endif
}

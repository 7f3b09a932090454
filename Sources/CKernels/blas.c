#include "CKernels.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* OpenBLAS, opened on first use rather than linked. OpenBLAS picks its kernels in a constructor that
   runs when the library is loaded, from its own CPU table; Debian's 0.3.21 does not know newer
   Xeons and then falls back to its SSE3 ("Prescott") kernels, a third of the speed on AVX-512 hosts.
   Loading it ourselves lets us name the core our probe supports first (OPENBLAS_CORETYPE, unless the
   user set it), before any constructor of OpenBLAS runs. */

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*threads_fn)(int);
typedef char *(*corename_fn)(void);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_fn sgemm;
static sgemv_fn sgemv;
static threads_fn set_threads;
static corename_fn corename;

/* The OpenBLAS core our CPU probe supports: SkylakeX's kernels need AVX-512 F/CD/BW/DQ/VL,
   Haswell's AVX2 and FMA. NULL leaves the choice to OpenBLAS. */
const char *llmrec_blas_core_for_this_cpu(void) {
#if defined(__x86_64__)
    const unsigned features = llmrec_cpu_features();
    if (features & LLMREC_CPU_AVX512_CORE) return "SkylakeX";
    if (features & LLMREC_CPU_AVX2_FMA) return "Haswell";
#endif
    return NULL;
}

static void *symbol(void *library, const char *name) {
    void *found = dlsym(library, name);
    if (!found) {
        fprintf(stderr, "llmrec: OpenBLAS has no symbol %s\n", name);
        abort();
    }
    return found;
}

static void load(void) {
    const char *chosen = getenv("OPENBLAS_CORETYPE");
    if (!chosen || !*chosen) {
        chosen = llmrec_blas_core_for_this_cpu();
        if (chosen) setenv("OPENBLAS_CORETYPE", chosen, 0);
    }
    static const char *names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"};
    void *library = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !library; i++) library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        fprintf(stderr, "llmrec: cannot open OpenBLAS (%s); install Debian's libopenblas0 (scripts/setup-system.sh)\n", dlerror());
        abort();
    }
    sgemm = (sgemm_fn)symbol(library, "cblas_sgemm");
    sgemv = (sgemv_fn)symbol(library, "cblas_sgemv");
    set_threads = (threads_fn)symbol(library, "openblas_set_num_threads");
    corename = (corename_fn)dlsym(library, "openblas_get_corename");
}

static void ready(void) { pthread_once(&once, load); }

void llmrec_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                  float beta, float *c, int ldc) {
    ready();
    sgemm(ROW_MAJOR, transpose_a ? TRANS : NO_TRANS, transpose_b ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void llmrec_sgemv(int transpose, int m, int n, float alpha, const float *a, int lda, const float *x, float beta, float *y) {
    ready();
    sgemv(ROW_MAJOR, transpose ? TRANS : NO_TRANS, m, n, alpha, a, lda, x, 1, beta, y, 1);
}

void llmrec_blas_set_threads(int count) {
    ready();
    set_threads(count);
}

const char *llmrec_blas_core(void) {
    ready();
    return corename ? corename() : "unknown";
}

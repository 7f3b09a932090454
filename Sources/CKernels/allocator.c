#include "CKernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void llmrec_keep_large_blocks_in_heap(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 0x7FFFFFFF);
#endif
}

// Declarations only: no symbol of OpenBLAS is linked. TensorCore opens the library with dlopen
// after choosing OPENBLAS_CORETYPE, because OpenBLAS reads that variable in its load-time
// constructor, before any code of the trainer runs.
#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <stdint.h>
#include <cpuid.h>

enum { COPENBLAS_ROW_MAJOR = 101, COPENBLAS_NO_TRANS = 111, COPENBLAS_TRANS = 112 };

typedef void (*copenblas_sgemm_fn)(int order, int transA, int transB, int m, int n, int k,
                                   float alpha, const float *a, int lda, const float *b, int ldb,
                                   float beta, float *c, int ldc);
typedef void (*copenblas_set_num_threads_fn)(int count);
typedef char *(*copenblas_get_corename_fn)(void);

// CPU features that decide the OpenBLAS kernel family. Each is 1 only when the CPU has the
// instructions and the OS saves the registers they use (XCR0), so a VM that hides AVX-512 state
// is not treated as an AVX-512 machine.
typedef struct {
    int avx;
    int avx2;
    int fma;
    int avx512f;
    int avx512bw;
    int avx512dq;
    int avx512vl;
} copenblas_cpu_features;

static inline uint64_t copenblas_xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static inline copenblas_cpu_features copenblas_detect_cpu(void) {
    copenblas_cpu_features f = {0, 0, 0, 0, 0, 0, 0};
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    int osxsave = (c >> 27) & 1;
    if (!osxsave) return f;
    uint64_t xcr0 = copenblas_xgetbv0();
    int ymm_state = (xcr0 & 0x6) == 0x6;
    int zmm_state = (xcr0 & 0xE6) == 0xE6;
    f.avx = ymm_state && ((c >> 28) & 1);
    f.fma = ymm_state && ((c >> 12) & 1);
    if (__get_cpuid_max(0, 0) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = ymm_state && ((b >> 5) & 1);
    f.avx512f = zmm_state && ((b >> 16) & 1);
    f.avx512dq = zmm_state && ((b >> 17) & 1);
    f.avx512bw = zmm_state && ((b >> 30) & 1);
    f.avx512vl = zmm_state && ((b >> 31) & 1);
    return f;
}

#endif

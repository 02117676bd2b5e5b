// glibc's allocator tuning, which Swift's Glibc module does not export.
#ifndef CMALLOC_SHIM_H
#define CMALLOC_SHIM_H
#include <malloc.h>

static inline int cmalloc_set_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
static inline int cmalloc_set_trim_threshold(int bytes) { return mallopt(M_TRIM_THRESHOLD, bytes); }
static inline int cmalloc_set_top_pad(int bytes) { return mallopt(M_TOP_PAD, bytes); }

#endif

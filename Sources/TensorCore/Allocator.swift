import CMalloc

/// Settings of the C allocator for training.
public enum Allocator {
    /// Bytes below which glibc serves an allocation from its heap rather than a fresh mapping.
    public static let mappingThresholdBytes: Int32 = 256 << 20

    /// Keeps glibc's malloc from giving every large tensor its own memory mapping.
    ///
    /// A training step allocates and frees tensors of a few MiB each (a `[1024, 288]` Float32
    /// activation is 1.1 MiB). glibc serves blocks above its mapping threshold (128 KiB at start,
    /// raised only as large blocks are freed) with mmap and returns them with munmap. So each such
    /// tensor costs fresh zeroed pages. Raising the threshold, and the trim threshold with it,
    /// keeps those blocks in the heap for reuse, and a top pad grows the heap in large steps.
    /// Measured on the one-rank PEPNet KuaiRand benchmark (while OpenBLAS still ran two threads):
    /// 2.3 million page faults per 100 steps and 12,600 samples/s without these settings, 31,000
    /// faults and about 20,000 samples/s with them. Call once at start, before the first large
    /// allocation.
    ///
    /// NOTE: the lasting fix is to reuse step buffers instead of allocating a tensor per operation.
    public static func configureForTraining() {
        _ = cmalloc_set_mmap_threshold(mappingThresholdBytes)
        _ = cmalloc_set_trim_threshold(mappingThresholdBytes * 4)
        _ = cmalloc_set_top_pad(64 << 20)
    }
}

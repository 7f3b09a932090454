import CKernels

/// Process-wide settings of glibc's allocator for commands that train through the LM.
public enum AllocatorTuning {
    /// Keeps freed blocks of up to 32 MiB in malloc's heap and never trims the heap back to the
    /// kernel. A training step through the LM allocates and frees hundreds of megabytes of activation
    /// buffers per sample; by default glibc maps the large ones afresh and returns them, so every sample
    /// faults its buffers in again (retrieval training with SmolLM2-135M for 45 s: 1.02 M minor page
    /// faults and 0.63 samples/s by default, 0.39 M and 0.72 samples/s with these settings). Call once,
    /// before training starts; the process keeps its peak heap until it exits. No effect off glibc.
    public static func keepLargeBlocksInTheHeap() { llmrec_keep_large_blocks_in_heap() }
}

/// One entry of a GGUF file's tensor table, validated against the file.
///
/// Dimension order: GGUF (like ggml) lists dimensions innermost first, so `ne[0]` is the length of a
/// row, the contiguous dimension. `shape` is the same list reversed, `[ne[n-1], ..., ne[1], ne[0]]`,
/// the row-major order of `Tensor` and PyTorch: a Hugging Face `Linear` weight `[out, in]` is stored with
/// `ne == [in, out]` and read here with `shape == [out, in]`.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml's `ne`, innermost first (at most 4 entries; `[]` for a scalar).
    public let ne: [Int]
    /// Row-major shape: `ne` reversed.
    public let shape: [Int]
    public let type: GGMLType
    /// Byte offset of the tensor's data from the start of the data section; a multiple of the file's
    /// alignment.
    public let offset: Int
    /// Bytes of data: `elementCount / type.blockSize * type.blockBytes`.
    public let byteCount: Int
    /// Product of `shape` (1 for a scalar).
    public let elementCount: Int
}

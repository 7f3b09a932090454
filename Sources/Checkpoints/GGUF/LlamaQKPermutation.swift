import Numerics

extension GGUFFile {
    /// Undoes the row permutation that llama.cpp's `convert_hf_to_gguf.py` applies to Llama's query and
    /// key projections, giving back the Hugging Face layout that rotate-half RoPE expects.
    ///
    /// The converter stores `attn_q.weight` and `attn_k.weight` as `permute(w, n_head)`: it views the
    /// rows of `w` as `[n_head, 2, head_dim / 2]`, swaps the last two axes and flattens again, so that
    /// within each head the two halves are interleaved (stored row `h*head_dim + 2i + j` is Hugging Face
    /// row `h*head_dim + j*head_dim/2 + i`) and llama.cpp's RoPE can rotate adjacent pairs. A model that
    /// rotates halves (as `transformers` does) must read the rows back in their original order: this is
    /// what transformers' GGUF loader does too.
    /// - tensor: `[heads * head_dim, ...]`, row-major (as `tensor(named:)` returns `attn_q`/`attn_k`);
    ///   rows are moved whole, so any trailing shape works.
    /// - heads: `llama.attention.head_count` for `attn_q`, `llama.attention.head_count_kv` for `attn_k`
    ///   (the converter permutes keys per key-value head).
    /// - Returns: a tensor of the same shape with rows in Hugging Face order.
    /// - Precondition: `tensor` has at least one dimension and `heads > 0` with `shape[0]` a multiple of
    ///   `2 * heads`; loaders check the configuration against the shapes before calling.
    public static func unpermuteLlamaQK(_ tensor: Tensor, heads: Int) -> Tensor {
        let rows = tensor.shape.first ?? 0
        precondition(!tensor.shape.isEmpty && heads > 0 && rows % (2 * heads) == 0,
                     "cannot split \(tensor.shape) into \(heads) heads of pairs")
        let headDim = rows / heads
        let half = headDim / 2
        let width = tensor.rowWidth
        var result = tensor
        tensor.storage.withUnsafeBufferPointer { source in
            result.storage.withUnsafeMutableBufferPointer { destination in
                for head in 0..<heads {
                    for i in 0..<half {
                        for j in 0..<2 {
                            let from = (head * headDim + 2 * i + j) * width
                            let to = (head * headDim + j * half + i) * width
                            for k in 0..<width { destination[to + k] = source[from + k] }
                        }
                    }
                }
            }
        }
        return result
    }
}

import CKernels

/// Attention of one new row over a decoder's key/value cache, with grouped-query heads, in the C
/// kernel (`llmrec_attention_row`): the decode step's attention and that of each branch row when
/// several continuations are scored after one prefix.
public enum CachedAttention {
    /// Where one row's keys and values are: the cache rows it sees are [0, prefix) and then
    /// [own, own + visible − prefix).
    public struct Span: Sendable {
        public var prefix: Int
        public var own: Int
        public var visible: Int

        public init(prefix: Int, own: Int, visible: Int) {
            self.prefix = prefix
            self.own = own
            self.visible = visible
        }
    }

    /// out[head] = softmax(q[head] · Kᵀ / √headDim) · V for the query heads in `heads`.
    ///
    /// - query, out: [heads · headDim]; only the heads in `heads` are read and written, so callers
    ///   on several threads can share them with disjoint ranges.
    /// - keys, values: [cache rows, keyValueHeads · headDim]; query head h reads kv head
    ///   h / (heads / keyValueHeads).
    /// - scores: scratch of at least `span.visible` floats, owned by the calling thread.
    public static func row(
        query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        heads: Range<Int>, headCount: Int, keyValueHeads: Int, headDim: Int, span: Span, scores: UnsafeMutablePointer<Float>
    ) {
        llmrec_attention_row(
            query, keys, values, keyValueHeads * headDim, headDim, headCount / keyValueHeads, span.prefix, span.own, span.visible,
            heads.lowerBound, heads.upperBound, 1 / Float(headDim).squareRoot(), scores, out)
    }
}

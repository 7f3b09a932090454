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

    /// Where a cache keeps one kv head's values for one position: at
    /// kvHead · headStride + position · positionStride floats from its start.
    public struct Layout: Sendable {
        public var headDim: Int
        public var positionStride: Int
        public var headStride: Int

        public init(headDim: Int, positionStride: Int, headStride: Int) {
            self.headDim = headDim
            self.positionStride = positionStride
            self.headStride = headStride
        }

        /// Each kv head's positions contiguous, [kvHeads, capacity, headDim]: a head's attention then
        /// reads one stream (about 1.7× faster than [capacity, kvHeads · headDim] rows).
        public static func headMajor(headDim: Int, capacity: Int) -> Layout {
            Layout(headDim: headDim, positionStride: headDim, headStride: capacity * headDim)
        }
    }

    /// out[head] = softmax(query[head] · Kᵀ / √headDim) · V for the query heads in `heads`.
    ///
    /// - query, out: [heads · headDim]; only the heads in `heads` are read and written, so callers
    ///   on several threads can share them with disjoint ranges.
    /// - keys, values: the cache, laid out as `layout` says; query head h reads kv head h / group.
    /// - scores: scratch of at least `span.visible` floats, owned by the calling thread.
    public static func row(
        query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        heads: Range<Int>, group: Int, layout: Layout, span: Span, scores: UnsafeMutablePointer<Float>
    ) {
        llmrec_attention_row(
            query, keys, values, layout.positionStride, layout.headStride, layout.headDim, group, span.prefix, span.own, span.visible,
            heads.lowerBound, heads.upperBound, 1 / Float(layout.headDim).squareRoot(), scores, out)
    }
}

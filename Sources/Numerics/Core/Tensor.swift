/// A dense, row-major Float32 tensor: a shape and a flat buffer. The last dimension is contiguous.
///
/// A plain value (copy-on-write through its array); models keep their parameters in `Tensor`s whose
/// names match checkpoint names, and layers work on the flat buffers through `withUnsafe...` calls.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var storage: [Float]

    /// - Precondition: `storage.count` equals the product of `shape` (1 for a scalar, `[]`).
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(storage.count == shape.reduce(1, *), "storage of \(storage.count) does not fit shape \(shape)")
        self.shape = shape
        self.storage = storage
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Number of elements.
    public var count: Int { storage.count }

    /// Size of the first dimension (rows of a matrix); 1 for a scalar.
    public var rows: Int { shape.first ?? 1 }

    /// Elements per row: the product of every dimension after the first.
    public var rowWidth: Int { shape.dropFirst().reduce(1, *) }
}

/// Where a tensor's elements lie in a flat buffer of elements: the index of the first element, the
/// shape, and per-dimension strides counted in elements (PyTorch's `storage_offset`, `size`, `stride`).
///
/// Row-major contiguous data has `strides == ElementLayout.rowMajorStrides(shape)`.
struct ElementLayout: Equatable {
    var offset: Int
    var shape: [Int]
    var strides: [Int]

    /// A contiguous row-major layout starting at element 0.
    init(contiguous shape: [Int]) {
        self.init(offset: 0, shape: shape, strides: Self.rowMajorStrides(shape))
    }

    init(offset: Int, shape: [Int], strides: [Int]) {
        self.offset = offset
        self.shape = shape
        self.strides = strides
    }

    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for dim in shape.indices.reversed() {
            strides[dim] = step
            step = step &* shape[dim]
        }
        return strides
    }

    /// Product of `shape` (1 for a scalar); nil for a negative dimension or when the product overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    /// Number of elements the layout addresses.
    var count: Int? { Self.elementCount(shape) }

    /// How many elements a buffer needs so that every element of the layout lies inside it (0 for an
    /// empty tensor); nil when a value is negative, ranks differ or the arithmetic overflows.
    var requiredElements: Int? {
        guard offset >= 0, shape.count == strides.count, let count else { return nil }
        if count == 0 { return 0 }
        var last = offset
        for (size, stride) in zip(shape, strides) {
            guard stride >= 0 else { return nil }
            let (span, overflow) = (size - 1).multipliedReportingOverflow(by: stride)
            guard !overflow else { return nil }
            let (sum, overflowSum) = last.addingReportingOverflow(span)
            guard !overflowSum else { return nil }
            last = sum
        }
        return last == Int.max ? nil : last + 1
    }

    var isContiguous: Bool { strides == Self.rowMajorStrides(shape) }

    /// Calls `body(elementIndex)` for every element in row-major order of `shape`.
    /// - Precondition: `count` is not nil (validated by the caller through `requiredElements`).
    func forEachIndex(_ body: (Int) -> Void) {
        let total = count ?? 0
        guard total > 0 else { return }
        if isContiguous {
            for i in 0..<total { body(offset + i) }
            return
        }
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var position = offset
        for _ in 0..<total {
            body(position)
            var dim = rank - 1
            while dim >= 0 {
                index[dim] += 1
                position += strides[dim]
                if index[dim] < shape[dim] { break }
                position -= strides[dim] * shape[dim]
                index[dim] = 0
                dim -= 1
            }
        }
    }
}

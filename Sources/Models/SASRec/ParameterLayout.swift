import Numerics

/// Where each named parameter lives inside one flat Float buffer, so that a model's weights, its
/// gradients and the optimiser's moments are each a single contiguous array.
public struct ParameterLayout: Sendable {
    public struct Slot: Sendable {
        public var offset: Int
        public var shape: [Int]
        public var count: Int { shape.reduce(1, *) }
    }

    public let names: [String]
    public let slots: [String: Slot]
    public let totalCount: Int

    public init(names: [String], shapes: [String: [Int]]) {
        var slots: [String: Slot] = [:]
        var offset = 0
        for name in names {
            let slot = Slot(offset: offset, shape: shapes[name]!)
            slots[name] = slot
            offset += slot.count
        }
        self.names = names
        self.slots = slots
        totalCount = offset
    }

    public func offset(_ name: String) -> Int { slots[name]!.offset }

    /// The tensors of `names` packed into one buffer in layout order.
    public func pack(_ tensors: [String: Tensor]) -> [Float] {
        var buffer = [Float](repeating: 0, count: totalCount)
        for name in names {
            let slot = slots[name]!
            buffer.replaceSubrange(slot.offset..<(slot.offset + slot.count), with: tensors[name]!.storage)
        }
        return buffer
    }

    /// The buffer unpacked into named tensors.
    public func unpack(_ buffer: [Float]) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for name in names {
            let slot = slots[name]!
            tensors[name] = Tensor(shape: slot.shape, storage: Array(buffer[slot.offset..<(slot.offset + slot.count)]))
        }
        return tensors
    }
}

import Numerics

/// A Python value read from a checkpoint's pickle, with tensors already materialised.
///
/// - `dict` keeps insertion order (Python dicts and `collections.OrderedDict` alike; `defaultdict`
///   becomes a plain dict); attributes set on a dict, such as a state dict's `_metadata`, are dropped.
///   `argparse.Namespace` becomes the `dict` of its attributes.
/// - `tensor` holds floating-point tensors (float32, float16, bfloat16, float64 storages) as Float32;
///   `integerTensor` holds int64, int32, int16, int8, uint8 and bool tensors exactly, row-major.
/// - `object` stands for anything else: `className` is the global's `module.name`, `args` the
///   arguments it was called with (REDUCE or NEWOBJ), `state` what BUILD gave it. A bare global is an
///   object without args; a tensor over a storage type this reader cannot convert is an object named
///   `torch._utils._rebuild_tensor_v2` whose first argument is an object named after the storage type
///   (`torch.ComplexFloatStorage`) with args `[key, location, element count]`.
public indirect enum PickleValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    case dict([(key: PickleValue, value: PickleValue)])
    case tensor(Tensor)
    case integerTensor(shape: [Int], values: [Int64])
    case object(className: String, args: [PickleValue], state: PickleValue?)

    /// The value stored under string key `key` in a `dict` (the first such entry); nil otherwise.
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let entries) = self else { return nil }
        return entries.first { $0.key == .string(key) }?.value
    }

    public var intValue: Int? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// A `double`, or an `int` converted to Double.
    public var doubleValue: Double? {
        switch self {
        case .double(let value): return value
        case .int(let value): return Double(value)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The items of a `list` or a `tuple`.
    public var elements: [PickleValue]? {
        switch self {
        case .list(let items), .tuple(let items): return items
        default: return nil
        }
    }

    /// The entries of a `dict`, in order.
    public var entries: [(key: PickleValue, value: PickleValue)]? {
        if case .dict(let entries) = self { return entries }
        return nil
    }

    public static func == (lhs: PickleValue, rhs: PickleValue) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)): return a == b
        case (.dict(let a), .dict(let b)): return a.elementsEqual(b) { $0.key == $1.key && $0.value == $1.value }
        case (.tensor(let a), .tensor(let b)): return a == b
        case (.integerTensor(let shapeA, let a), .integerTensor(let shapeB, let b)): return shapeA == shapeB && a == b
        case (.object(let nameA, let argsA, let stateA), .object(let nameB, let argsB, let stateB)):
            return nameA == nameB && argsA == argsB && stateA == stateB
        default: return false
        }
    }
}

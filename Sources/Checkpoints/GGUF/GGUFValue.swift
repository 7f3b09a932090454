/// The type tags of GGUF metadata values (`gguf_type` in llama.cpp).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value of a fixed-size type; nil for `.string` and `.array`.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one value of this type occupies: a string's 8-byte length, an array's 4-byte
    /// element type and 8-byte count.
    var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }
}

/// One GGUF metadata value, with the type the file stores it as.
///
/// Arrays keep their element type, so an empty array still says what it would hold; the elements of an
/// array all have that type, and an array of arrays holds `.array` values whose element types may differ.
/// The typed accessors (`intValue`, `stringValue`, ...) return nil for a value of another type.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool)
    /// GGUF strings are UTF-8 bytes with a length; invalid sequences are read as U+FFFD.
    case string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// Any integer type as Int; nil for a UInt64 above `Int.max` and for non-integers.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// A float32 or float64 as Double (exact); nil for other types, integers included.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return nil
        }
    }

    /// A float32 as stored, or a float64 rounded to nearest; nil for other types, integers included.
    public var floatValue: Float? {
        switch self {
        case .float32(let v): return v
        case .float64(let v): return Float(v)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The elements of an array (of any element type).
    public var arrayValue: [GGUFValue]? {
        if case .array(_, let elements) = self { return elements }
        return nil
    }

    /// An array of strings; nil for other values, arrays of other element types included.
    public var stringArrayValue: [String]? {
        guard case .array(.string, let elements) = self else { return nil }
        return elements.compactMap(\.stringValue)
    }

    /// An array of integers of any integer element type; nil when an element does not fit in Int.
    public var intArrayValue: [Int]? {
        guard case .array(let type, let elements) = self, type != .bool, type.fixedSize != nil,
              type != .float32, type != .float64
        else { return nil }
        var values: [Int] = []
        values.reserveCapacity(elements.count)
        for element in elements {
            guard let value = element.intValue else { return nil }
            values.append(value)
        }
        return values
    }

    /// An array of float32 or float64 elements as Float (float64 rounded to nearest).
    public var floatArrayValue: [Float]? {
        guard case .array(let type, let elements) = self, type == .float32 || type == .float64 else { return nil }
        return elements.compactMap(\.floatValue)
    }
}

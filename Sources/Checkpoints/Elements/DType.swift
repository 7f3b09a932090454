/// Element types of stored tensors, spelled as the safetensors header spells them.
///
/// PyTorch storages map onto the same cases (`torch.HalfStorage` is `.f16`, `torch.LongStorage` is
/// `.i64`, ...). All multi-byte types are stored little-endian.
public enum DType: String, Sendable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: return 1
        }
    }

    /// Whether `tensor(named:)` converts this type to Float32: F64, F32, F16 and BF16.
    public var convertsToFloat: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16: return true
        default: return false
        }
    }

    /// Whether integer reads (`int64Values(named:)`) convert this type to Int64 without loss: every
    /// signed and unsigned integer type up to 32 bits, I64 and BOOL (as 0 and 1); not U64.
    public var convertsToInt64: Bool {
        switch self {
        case .i64, .i32, .i16, .i8, .u32, .u16, .u8, .bool: return true
        default: return false
        }
    }
}

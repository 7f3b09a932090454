/// Conversion of stored little-endian elements to Float32 and Int64.
///
/// Callers validate first that `layout.requiredElements * dtype.byteCount <= bytes.count`; the
/// functions here then read only inside `bytes`, with unaligned loads (safetensors offsets need not be
/// aligned to the element size).
enum ElementDecoding {
    /// IEEE 754 binary16 to binary32, exactly: subnormals, signed zeros and infinities are kept; a NaN
    /// keeps its payload in the upper mantissa bits and comes out quiet, as F16C and PyTorch convert it.
    static func float(fromHalf bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x03FF)
        switch exponent {
        case 0x1F:
            let quiet: UInt32 = mantissa == 0 ? 0 : 0x0040_0000
            return Float(bitPattern: sign | 0x7F80_0000 | quiet | mantissa << 13)
        case 0:
            // Zero or subnormal: mantissa * 2^-24, exact in binary32.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        default:
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }

    /// bfloat16 is the upper half of a binary32.
    static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The elements of `layout` as Float32 in row-major order; nil when `dtype` does not convert to Float.
    static func floats(_ bytes: UnsafeRawBufferPointer, dtype: DType, layout: ElementLayout) -> [Float]? {
        switch dtype {
        case .f32: return gather(layout) { Float(bitPattern: load(bytes, $0, UInt32.self)) }
        case .f16: return gather(layout) { float(fromHalf: load(bytes, $0, UInt16.self)) }
        case .bf16: return gather(layout) { float(fromBFloat16: load(bytes, $0, UInt16.self)) }
        case .f64: return gather(layout) { Float(Double(bitPattern: load(bytes, $0, UInt64.self))) }
        default: return nil
        }
    }

    /// The elements of `layout` as Int64 in row-major order; nil when `dtype` does not convert losslessly.
    static func integers(_ bytes: UnsafeRawBufferPointer, dtype: DType, layout: ElementLayout) -> [Int64]? {
        switch dtype {
        case .i64: return gather(layout) { Int64(bitPattern: load(bytes, $0, UInt64.self)) }
        case .i32: return gather(layout) { Int64(Int32(bitPattern: load(bytes, $0, UInt32.self))) }
        case .i16: return gather(layout) { Int64(Int16(bitPattern: load(bytes, $0, UInt16.self))) }
        case .i8: return gather(layout) { Int64(Int8(bitPattern: load(bytes, $0, UInt8.self))) }
        case .u32: return gather(layout) { Int64(load(bytes, $0, UInt32.self)) }
        case .u16: return gather(layout) { Int64(load(bytes, $0, UInt16.self)) }
        case .u8: return gather(layout) { Int64(load(bytes, $0, UInt8.self)) }
        case .bool: return gather(layout) { load(bytes, $0, UInt8.self) == 0 ? 0 : 1 }
        default: return nil
        }
    }

    /// Element `index` of a buffer of `T`s, converted from little-endian.
    @inline(__always)
    private static func load<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ index: Int, _: T.Type) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: index &* MemoryLayout<T>.size, as: T.self))
    }

    @inline(__always)
    private static func gather<T>(_ layout: ElementLayout, _ element: (Int) -> T) -> [T] {
        let count = layout.count ?? 0
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            var next = 0
            layout.forEachIndex { index in
                (buffer.baseAddress! + next).initialize(to: element(index))
                next += 1
            }
            initialized = next
        }
    }
}

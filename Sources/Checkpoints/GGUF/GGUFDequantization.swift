import Numerics

/// Conversion of whole ggml blocks to Float32, as llama.cpp's `dequantize_row_*` computes them.
///
/// The 16-bit and block types (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) go through
/// the kernels' one table of weight formats (`QuantizedMatrix.decode`; Sources/CKernels/kernels.c gives
/// each block layout), so the weights a model multiplies by and the tensors read here are decoded by
/// the same code.
/// F32, F64 and Q8_K (f32 `d`, 256 × int8 `q`, sixteen int16 block sums unused here; `x = d * q`) are
/// decoded here. Results match llama.cpp's reference and gguf-py bit for bit.
enum GGUFDequantization {
    /// Decodes `destination.count` elements of `type` from `source`, which holds exactly the blocks
    /// that cover them (`destination.count` is a whole number of blocks).
    /// - Returns: false, writing nothing, when `type` is not one that `GGMLType.dequantises` names.
    static func decode(_ type: GGMLType, _ source: UnsafeRawBufferPointer,
                       into destination: UnsafeMutableBufferPointer<Float>) -> Bool {
        let count = destination.count
        guard count % type.blockSize == 0, source.count == count / type.blockSize * type.blockBytes else { return false }
        switch type {
        case .f32:
            for i in 0..<count { destination[i] = Float(bitPattern: load(source, i &* 4, UInt32.self)) }
        case .f64:
            for i in 0..<count { destination[i] = Float(Double(bitPattern: load(source, i &* 8, UInt64.self))) }
        case .q8_k:
            for block in 0..<count / 256 {
                let base = block &* type.blockBytes
                let d = Float(bitPattern: load(source, base, UInt32.self))
                for j in 0..<256 { destination[block &* 256 &+ j] = Float(Int8(bitPattern: source[base &+ 4 &+ j])) * d }
            }
        default:
            guard let format = QuantizedMatrix.Format(rawValue: Int32(type.rawValue)) else { return false }
            return QuantizedMatrix.decode(format, source, into: destination)
        }
        return true
    }

    @inline(__always)
    private static func load<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _: T.Type) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

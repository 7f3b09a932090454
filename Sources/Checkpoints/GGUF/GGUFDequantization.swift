/// Conversion of whole ggml blocks to Float32, as llama.cpp's `dequantize_row_*` computes them.
///
/// Block layouts (ggml-common.h; all little-endian, packed, blocks of 32 elements):
/// - Q8_0 (34 bytes): f16 scale `d`, 32 × int8 `q`; `x[j] = q[j] * d`.
/// - Q4_0 (18 bytes): f16 `d`, 16 bytes of nibbles; byte `j` holds element `j` in its low nibble and
///   element `j + 16` in its high nibble; `x = (q - 8) * d`.
/// - Q4_1 (20 bytes): f16 `d`, f16 minimum `m`, 16 bytes of nibbles in Q4_0's order; `x = q * d + m`.
/// The products and sums are single Float32 operations (no fused multiply-add), so results match
/// llama.cpp's reference and gguf-py bit for bit.
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
        case .f16:
            for i in 0..<count { destination[i] = ElementDecoding.float(fromHalf: load(source, i &* 2, UInt16.self)) }
        case .bf16:
            for i in 0..<count {
                destination[i] = ElementDecoding.float(fromBFloat16: load(source, i &* 2, UInt16.self))
            }
        case .f64:
            for i in 0..<count { destination[i] = Float(Double(bitPattern: load(source, i &* 8, UInt64.self))) }
        case .q8_0:
            forEachBlock(type, source, destination) { block, out in
                let d = half(block, 0)
                for j in 0..<32 { out[j] = Float(Int8(bitPattern: block[2 &+ j])) * d }
            }
        case .q4_0:
            forEachBlock(type, source, destination) { block, out in
                let d = half(block, 0)
                for j in 0..<16 {
                    let byte = block[2 &+ j]
                    out[j] = Float(Int(byte & 0x0F) - 8) * d
                    out[j &+ 16] = Float(Int(byte >> 4) - 8) * d
                }
            }
        case .q4_1:
            forEachBlock(type, source, destination) { block, out in
                let d = half(block, 0)
                let m = half(block, 2)
                for j in 0..<16 {
                    let byte = block[4 &+ j]
                    out[j] = Float(byte & 0x0F) * d + m
                    out[j &+ 16] = Float(byte >> 4) * d + m
                }
            }
        default:
            return false
        }
        return true
    }

    /// Calls `body(blockBytes, blockOutput)` for each block, in order.
    @inline(__always)
    private static func forEachBlock(_ type: GGMLType, _ source: UnsafeRawBufferPointer,
                                     _ destination: UnsafeMutableBufferPointer<Float>,
                                     _ body: (UnsafeRawBufferPointer, UnsafeMutableBufferPointer<Float>) -> Void) {
        let (size, bytes) = (type.blockSize, type.blockBytes)
        for block in 0..<destination.count / size {
            body(UnsafeRawBufferPointer(rebasing: source[block &* bytes..<(block &+ 1) &* bytes]),
                 UnsafeMutableBufferPointer(rebasing: destination[block &* size..<(block &+ 1) &* size]))
        }
    }

    @inline(__always)
    private static func half(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> Float {
        ElementDecoding.float(fromHalf: load(bytes, offset, UInt16.self))
    }

    @inline(__always)
    private static func load<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _: T.Type) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

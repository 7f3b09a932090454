/// Conversion of whole ggml blocks to Float32, as llama.cpp's `dequantize_row_*` computes them.
///
/// Block layouts (ggml-common.h; all little-endian, packed, blocks of 32 elements):
/// - Q8_0 (34 bytes): f16 scale `d`, 32 × int8 `q`; `x[j] = q[j] * d`.
/// - Q4_0 (18 bytes): f16 `d`, 16 bytes of nibbles; byte `j` holds element `j` in its low nibble and
///   element `j + 16` in its high nibble; `x = (q - 8) * d`.
/// - Q4_1 (20 bytes): f16 `d`, f16 minimum `m`, 16 bytes of nibbles in Q4_0's order; `x = q * d + m`.
/// - Q5_0 (22 bytes): f16 `d`, 32 high bits `qh` (little-endian; bit `j` for element `j`), 16 bytes
///   of nibbles in Q4_0's order; `x = ((nibble | bit << 4) - 16) * d`.
/// - Q5_1 (24 bytes): f16 `d`, f16 `m`, `qh` and nibbles as Q5_0; `x = (nibble | bit << 4) * d + m`.
/// K-quants, blocks of 256 in sub-blocks:
/// - Q4_K (144 bytes): f16 `d`, f16 `dmin`, 12 bytes of eight 6-bit scales and mins, 128 bytes of
///   nibbles: byte `l` of each 32-byte chunk `c` holds element `l` of sub-block `2c` (low) and of
///   `2c + 1` (high); `x = (d * scale) * q - dmin * min`.
/// - Q5_K (176 bytes): as Q4_K with 32 bytes `qh` before the nibbles: bit `s` of `qh[l]` is the fifth
///   bit of element `l` of sub-block `s`.
/// - Q6_K (210 bytes): 128 bytes of low nibbles `ql`, 64 bytes of 2-bit highs `qh`, sixteen int8
///   scales (one per 16 elements), f16 `d`; `x = (d * scale) * (q - 32)`.
/// - Q8_K (292 bytes): f32 `d`, 256 × int8 `q`, sixteen int16 block sums (unused here); `x = d * q`.
/// The products and sums are single Float32 operations (no fused multiply-add), in ggml's order,
/// so results match llama.cpp's reference and gguf-py bit for bit.
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
        case .q5_0, .q5_1:
            let hasMinimum = type == .q5_1
            forEachBlock(type, source, destination) { block, out in
                let d = half(block, 0)
                let m: Float = hasMinimum ? half(block, 2) : 0
                let base = hasMinimum ? 4 : 2
                let high = load(block, base, UInt32.self)
                for j in 0..<16 {
                    let byte = block[base &+ 4 &+ j]
                    let low = Int(byte & 0x0F) | Int((high >> UInt32(j)) & 1) << 4
                    let upper = Int(byte >> 4) | Int((high >> UInt32(j &+ 16)) & 1) << 4
                    if hasMinimum {
                        out[j] = Float(low) * d + m
                        out[j &+ 16] = Float(upper) * d + m
                    } else {
                        out[j] = Float(low - 16) * d
                        out[j &+ 16] = Float(upper - 16) * d
                    }
                }
            }
        case .q4_k, .q5_k:
            let hasHighBits = type == .q5_k
            forEachBlock(type, source, destination) { block, out in
                let d = half(block, 0)
                let dmin = half(block, 2)
                let quants = hasHighBits ? 16 &+ 32 : 16
                for subBlock in 0..<8 {
                    let (scale, minimum) = scaleAndMinimum(block, subBlock)
                    let factor = d * Float(scale)
                    let offset = dmin * Float(minimum)
                    let chunk = quants &+ (subBlock >> 1) &* 32
                    let shift = UInt8((subBlock & 1) &* 4)
                    for l in 0..<32 {
                        var q = Int((block[chunk &+ l] >> shift) & 0x0F)
                        if hasHighBits { q |= Int((block[16 &+ l] >> UInt8(subBlock)) & 1) << 4 }
                        out[subBlock &* 32 &+ l] = factor * Float(q) - offset
                    }
                }
            }
        case .q6_k:
            forEachBlock(type, source, destination) { block, out in
                let d = half(block, 208)
                for part in 0..<2 {
                    let ql = part &* 64, qh = 128 &+ part &* 32, scales = 192 &+ part &* 8, y = part &* 128
                    for l in 0..<32 {
                        let high = block[qh &+ l]
                        // Quarter `k` of the 128 elements: its scale is `scales[l / 16 + 2k]`.
                        @inline(__always) func put(_ k: Int, _ q: UInt8) {
                            let factor = d * Float(Int8(bitPattern: block[scales &+ l / 16 &+ 2 &* k]))
                            out[y &+ k &* 32 &+ l] = factor * Float(Int(q) - 32)
                        }
                        put(0, (block[ql &+ l] & 0x0F) | (high & 3) << 4)
                        put(1, (block[ql &+ l &+ 32] & 0x0F) | ((high >> 2) & 3) << 4)
                        put(2, (block[ql &+ l] >> 4) | ((high >> 4) & 3) << 4)
                        put(3, (block[ql &+ l &+ 32] >> 4) | ((high >> 6) & 3) << 4)
                    }
                }
            }
        case .q8_k:
            forEachBlock(type, source, destination) { block, out in
                let d = Float(bitPattern: load(block, 0, UInt32.self))
                for j in 0..<256 { out[j] = Float(Int8(bitPattern: block[4 &+ j])) * d }
            }
        default:
            return false
        }
        return true
    }

    /// The 6-bit scale and minimum of sub-block `index` (0..<8) of a Q4_K/Q5_K block, packed in the
    /// 12 bytes at offset 4: sub-blocks 0-3 in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins);
    /// sub-blocks 4-7 in the nibbles of bytes 8-11 with their top 2 bits in the top bits of bytes 0-7.
    @inline(__always)
    private static func scaleAndMinimum(_ block: UnsafeRawBufferPointer, _ index: Int) -> (UInt8, UInt8) {
        let q = { (offset: Int) in block[4 &+ offset] }
        if index < 4 { return (q(index) & 63, q(index &+ 4) & 63) }
        return ((q(index &+ 4) & 0x0F) | ((q(index &- 4) >> 6) << 4), (q(index &+ 4) >> 4) | ((q(index) >> 6) << 4))
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

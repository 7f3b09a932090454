@testable import Checkpoints
import Testing

@Suite struct ElementDecodingTests {
    @Test func convertsEveryHalfBitPatternLikeTheHardware() {
        #if !(os(macOS) && arch(x86_64))
        var mismatches: [UInt16] = []
        for bits in 0...UInt16.max {
            let reference = Float(Float16(bitPattern: bits)).bitPattern
            if ElementDecoding.float(fromHalf: bits).bitPattern != reference { mismatches.append(bits) }
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(5).map { String($0, radix: 16) })")
        #endif
    }

    @Test func bfloat16IsTheUpperHalfOfAFloat() {
        #expect(ElementDecoding.float(fromBFloat16: 0x3F80) == 1)
        #expect(ElementDecoding.float(fromBFloat16: 0xC049) == Float(bitPattern: 0xC049_0000))
        #expect(ElementDecoding.float(fromBFloat16: 0x7F80) == .infinity)
    }

    @Test func gathersStridedViewsInRowMajorOrder() {
        let storage: [Float] = (0..<12).map(Float.init)
        let transposed = ElementLayout(offset: 0, shape: [4, 3], strides: [1, 4])
        let expanded = ElementLayout(offset: 5, shape: [3, 2], strides: [0, 1])
        storage.withUnsafeBytes { bytes in
            #expect(ElementDecoding.floats(bytes, dtype: .f32, layout: transposed) == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
            #expect(ElementDecoding.floats(bytes, dtype: .f32, layout: expanded) == [5, 6, 5, 6, 5, 6])
            #expect(ElementDecoding.integers(bytes, dtype: .f32, layout: expanded) == nil)
        }
        #expect(transposed.requiredElements == 12)
        #expect(expanded.requiredElements == 7)
        #expect(ElementLayout(offset: 3, shape: [0, 5], strides: [5, 1]).requiredElements == 0)
        #expect(ElementLayout(offset: 0, shape: [2], strides: [-1]).requiredElements == nil)
        #expect(ElementLayout(offset: 0, shape: [2, 2], strides: [1]).requiredElements == nil)
        #expect(ElementLayout(offset: 1, shape: [Int.max / 2, 3], strides: [3, 1]).requiredElements == nil)
    }
}

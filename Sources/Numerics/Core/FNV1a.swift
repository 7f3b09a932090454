/// FNV-1a, 64-bit: a fast, stable, non-cryptographic fingerprint of bytes (dataset splits, model
/// files, catalog keys). The same bytes give the same value on every machine and run.
public struct FNV1a64: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func combine(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x100_0000_01b3
    }

    public mutating func combine(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { combine(byte) }
    }

    /// The same as the generic `combine` over the buffer's bytes, as a tight loop (model files are
    /// fingerprinted at every load).
    public mutating func combine(_ buffer: UnsafeRawBufferPointer) {
        var hash = value
        for byte in buffer { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        value = hash
    }

    /// The value in lower-case hexadecimal, without leading zeros.
    public var hex: String { String(value, radix: 16) }
}

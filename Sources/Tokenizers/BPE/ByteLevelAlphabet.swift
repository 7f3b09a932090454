/// GPT-2's `bytes_to_unicode`: the 256 byte values spelled as 256 printable characters, so that a
/// byte-level vocabulary can be written as text. Bytes `!`...`~`, `¡`...`¬` and `®`...`ÿ` stand for
/// themselves; the other 68 (controls, space, DEL, NBSP, soft hyphen, ...) become U+0100 + n in byte
/// order, so a space is `Ġ` (U+0120) and a newline `Ċ` (U+010A).
enum ByteLevelAlphabet {
    /// The character spelling each byte; indexed by byte value.
    static let scalars: [Unicode.Scalar] = {
        var scalars = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if standsForItself(UInt8(byte)) {
                scalars[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                scalars[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return scalars
    }()

    /// The byte each spelling character stands for, -1 for other characters; indexed by scalar value
    /// (all spellings are below U+0144).
    private static let bytes: [Int16] = {
        var bytes = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalars.enumerated() { bytes[Int(scalar.value)] = Int16(byte) }
        return bytes
    }()

    private static func standsForItself(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// The byte `scalar` spells, nil when it is not one of the 256 spelling characters.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = Int(scalar.value)
        guard value < bytes.count, bytes[value] >= 0 else { return nil }
        return UInt8(bytes[value])
    }

    /// The byte-level spelling of `bytes`, as vocabularies write tokens.
    static func spelling(of bytes: some Sequence<UInt8>) -> String {
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(scalars[Int(byte)]) }
        return String(text)
    }

    /// The bytes `token` spells, or nil when some character of it is not a spelling character (an
    /// added token written as plain text, with a space or a letter beyond U+00FF in it).
    static func bytes(spelledBy token: String) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = byte(for: scalar) else { return nil }
            result.append(byte)
        }
        return result
    }
}

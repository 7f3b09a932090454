import Foundation

/// The steps of BERT's text normaliser (Hugging Face `BertNormalizer`), applied in this order:
/// clean text, space out CJK ideographs, strip accents, lower-case.
public struct BertNormalization: Sendable, Equatable {
    /// Drop NUL, U+FFFD and control characters; turn every whitespace character into a space.
    public var cleanText: Bool
    /// Put spaces around CJK ideographs, so each becomes a word of its own.
    public var handleChineseCharacters: Bool
    /// Decompose to NFD and drop nonspacing marks (Mn): "Äpfel" becomes "Apfel".
    public var stripAccents: Bool
    /// Map every code point to its full Unicode lower-case mapping, one code point at a time.
    public var lowercase: Bool

    /// `stripAccents: nil` follows `lowercase`, as `BertNormalizer` and `BertTokenizer` do.
    public init(cleanText: Bool = true, handleChineseCharacters: Bool = true, stripAccents: Bool? = nil,
                lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseCharacters = handleChineseCharacters
        self.stripAccents = stripAccents ?? lowercase
        self.lowercase = lowercase
    }

    /// Appends the normalised code points of `text` (UTF-8) to `output`.
    ///
    /// All-ASCII text takes a byte-wise path that allocates nothing; other text goes through the
    /// standard library's Unicode properties and, when stripping accents, Foundation's NFD.
    func normalize(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Unicode.Scalar]) {
        if text.allSatisfy({ $0 < 0x80 }) {
            normalizeASCII(text, into: &output)
        } else {
            normalizeUnicode(String(decoding: text, as: UTF8.self), into: &output)
        }
    }

    private func normalizeASCII(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Unicode.Scalar]) {
        for byte in text {
            var scalar = Unicode.Scalar(byte)
            if cleanText {
                if BertCharacterClasses.isControl(scalar) { continue }
                if BertCharacterClasses.isWhitespace(scalar) { scalar = " " }
            }
            if lowercase, byte >= 0x41, byte <= 0x5A { scalar = Unicode.Scalar(byte | 0x20) }
            output.append(scalar)
        }
    }

    private func normalizeUnicode(_ text: String, into output: inout [Unicode.Scalar]) {
        var staged = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if cleanText {
                if scalar.value == 0 || scalar.value == 0xFFFD || BertCharacterClasses.isControl(scalar) { continue }
                if BertCharacterClasses.isWhitespace(scalar) {
                    staged.append(" ")
                    continue
                }
            }
            if handleChineseCharacters, BertCharacterClasses.isChineseCharacter(scalar) {
                staged.append(" ")
                staged.append(scalar)
                staged.append(" ")
            } else {
                staged.append(scalar)
            }
        }
        // NFD reorders runs of combining marks, so it must see the whole text, not one code point.
        let decomposed = stripAccents ? String(staged).decomposedStringWithCanonicalMapping.unicodeScalars : staged
        for scalar in decomposed {
            if stripAccents, scalar.properties.generalCategory == .nonspacingMark { continue }
            if !lowercase {
                output.append(scalar)
            } else if scalar.value < 0x80 {
                let isUpper = scalar.value >= 0x41 && scalar.value <= 0x5A
                output.append(isUpper ? Unicode.Scalar(UInt8(scalar.value) | 0x20) : scalar)
            } else {
                output.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
    }
}

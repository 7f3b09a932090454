/// The character classes BERT's normaliser and pre-tokeniser use, as Hugging Face `tokenizers` defines
/// them (`normalizers/bert.rs`, `pre_tokenizers/bert.rs`), which is what the fast `BertTokenizer` runs.
///
/// Where `tokenizers` and the Python `BertTokenizer` disagree this follows `tokenizers`:
/// - control characters are Cc, Cf and Co (Python also drops unassigned code points, Cn);
/// - CJK Extension E is taken from U+2B920, not U+2B820 (a typo in `tokenizers` kept for compatibility).
/// General categories come from the Swift standard library's Unicode tables.
enum BertCharacterClasses {
    /// Tab, newline, carriage return, or any White_Space code point (Rust's `char::is_whitespace`).
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return value == 0x20 || (value >= 0x09 && value <= 0x0D) }
        return scalar.properties.isWhitespace
    }

    /// A control, format or private-use code point other than tab, newline and carriage return;
    /// `cleanText` drops these.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return value != 0x09 && value != 0x0A && value != 0x0D && (value < 0x20 || value == 0x7F) }
        switch scalar.properties.generalCategory {
        case .control, .format, .privateUse: return true
        default: return false
        }
    }

    /// ASCII 33-47, 58-64, 91-96, 123-126, or any Unicode punctuation category (P*).
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return asciiPunctuation[Int(value)] }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    /// A CJK ideograph, which the normaliser surrounds with spaces so that it becomes a word of its own.
    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }

    /// Indexed by ASCII code.
    private static let asciiPunctuation: [Bool] = (0..<128).map { code in
        (33...47).contains(code) || (58...64).contains(code) || (91...96).contains(code) || (123...126).contains(code)
    }
}

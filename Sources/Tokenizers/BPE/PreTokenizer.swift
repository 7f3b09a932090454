extension ByteLevelBPETokenizer {
    /// How text between added tokens is cut into the pieces BPE merges within (a merge never crosses
    /// two pieces). Each is its regex written out by hand over Unicode scalars, with the regex's
    /// leftmost-first alternation and backtracking, and the end of the text as the end of the string
    /// for `(?!\S)`.
    ///
    /// Character classes are Unicode's: `\p{L}` the letter categories (Lu Ll Lt Lm Lo), `\p{N}` the
    /// number categories (Nd Nl No), `\s` the White_Space property; "other" is everything else
    /// (punctuation, symbols, marks, controls that are not White_Space).
    public enum PreTokenizer: String, Sendable, CaseIterable {
        /// GPT-2, OPT, RoBERTa:
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
        case gpt2
        /// SmolLM, SmolLM2, StarCoder (llama.cpp's "smollm"; Hugging Face's `Digits(individual_digits)`
        /// then `ByteLevel`): every `\p{N}` scalar is a piece of its own, then the GPT-2 regex cuts each
        /// stretch between them.
        case smolLM
        /// Llama 3 (llama.cpp's "llama-bpe"):
        /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
        case llama3
        /// Qwen2 and Qwen2.5 (llama.cpp's "qwen2"): Llama 3's regex with single digits, `\p{N}` for `\p{N}{1,3}`.
        case qwen2

        /// The pre-tokeniser a GGUF's `tokenizer.ggml.pre` names, as llama.cpp's table maps it; nil for
        /// names this tokenizer does not implement.
        public init?(ggufName name: String) {
            switch name {
            case "gpt-2": self = .gpt2
            case "smollm", "starcoder": self = .smolLM
            case "llama-bpe", "llama3", "llama-v3": self = .llama3
            case "qwen2": self = .qwen2
            default: return nil
            }
        }

        /// The regex of the GPT-2 pre-tokeniser, as `tokenizer.json` files write it in a `Split`.
        static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
        /// The regex of the Llama 3 pre-tokeniser, as `tokenizer.json` files write it in a `Split`.
        static let llama3Pattern =
            #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        /// The regex of the Qwen2 pre-tokeniser, as its `tokenizer.json` writes it in a `Split`.
        static let qwen2Pattern =
            #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

        /// The pieces of `text`, in order; they concatenate back to `text`.
        public func pieces(of text: String) -> [String] {
            let scalars = ScalarText(Array(text.utf8))
            var pieces: [String] = []
            split(scalars) { start, end in
                pieces.append(String(String.UnicodeScalarView(scalars.values[start..<end].map { Unicode.Scalar($0)! })))
            }
            return pieces
        }

        /// Calls `emit(start, end)` for each piece of `text`, as scalar indices, in order.
        func split(_ text: ScalarText, emit: (Int, Int) -> Void) {
            let values = text.values
            let classes = text.classes
            switch self {
            case .gpt2:
                Self.splitGPT2(values, classes, from: 0, to: values.count, emit: emit)
            case .smolLM:
                var start = 0
                for index in classes.indices where classes[index] == .number {
                    Self.splitGPT2(values, classes, from: start, to: index, emit: emit)
                    emit(index, index + 1)
                    start = index + 1
                }
                Self.splitGPT2(values, classes, from: start, to: values.count, emit: emit)
            case .llama3, .qwen2:
                let digits = self == .llama3 ? 3 : 1
                var start = 0
                while start < values.count {
                    let end = Self.llama3MatchEnd(values, classes, at: start, end: values.count, digits: digits)
                    emit(start, end)
                    start = end
                }
            }
        }

        /// GPT-2's regex over `values[from..<to]`, `to` being the end of the string.
        private static func splitGPT2(_ values: [UInt32], _ classes: [ScalarClass], from: Int, to end: Int,
                                      emit: (Int, Int) -> Void) {
            var start = from
            while start < end {
                let matchEnd = gpt2MatchEnd(values, classes, at: start, end: end)
                emit(start, matchEnd)
                start = matchEnd
            }
        }

        /// Where GPT-2's regex match starting at `i` ends.
        private static func gpt2MatchEnd(_ values: [UInt32], _ classes: [ScalarClass], at i: Int, end: Int) -> Int {
            if values[i] == Scalars.apostrophe, let contraction = contractionEnd(values, at: i, end: end, fold: { $0 }) {
                return contraction
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one space joins the run after it.
            let body = values[i] == Scalars.space && i + 1 < end && classes[i + 1] != .whitespace ? i + 1 : i
            if classes[body] != .whitespace { return runEnd(classes, from: body, end: end) }
            return whitespaceEnd(classes, at: i, end: end)
        }

        /// Where Llama 3's regex match starting at `i` ends, with number runs of at most `digits`
        /// (3 for Llama 3, 1 for Qwen2).
        private static func llama3MatchEnd(_ values: [UInt32], _ classes: [ScalarClass], at i: Int, end: Int, digits: Int) -> Int {
            let value = values[i]
            if value == Scalars.apostrophe, let contraction = contractionEnd(values, at: i, end: end, fold: caseFold) {
                return contraction
            }
            let scalarClass = classes[i]
            // `[^\r\n\p{L}\p{N}]?\p{L}+`
            if scalarClass == .letter { return runEnd(classes, from: i, end: end) }
            if scalarClass != .number, !Scalars.isLineBreak(value), i + 1 < end, classes[i + 1] == .letter {
                return runEnd(classes, from: i + 1, end: end)
            }
            // `\p{N}{1,3}` (`\p{N}` for Qwen2)
            if scalarClass == .number {
                var matchEnd = i + 1
                while matchEnd < min(end, i + digits), classes[matchEnd] == .number { matchEnd += 1 }
                return matchEnd
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            let body = value == Scalars.space && i + 1 < end && classes[i + 1] == .other ? i + 1 : i
            if classes[body] == .other {
                var matchEnd = runEnd(classes, from: body, end: end)
                while matchEnd < end, Scalars.isLineBreak(values[matchEnd]) { matchEnd += 1 }
                return matchEnd
            }
            // `\s*[\r\n]+`: the greedy `\s*` gives back whitespace until a line break follows, so the
            // match ends just after the run's last line break.
            var runEnd = i
            var lastLineBreak: Int?
            while runEnd < end, classes[runEnd] == .whitespace {
                if Scalars.isLineBreak(values[runEnd]) { lastLineBreak = runEnd }
                runEnd += 1
            }
            if let lastLineBreak { return lastLineBreak + 1 }
            return whitespaceEnd(classes, at: i, end: end)
        }

        /// `'s|'t|'re|'ve|'m|'ll|'d` at `i` (which holds an apostrophe), comparing letters after `fold`.
        private static func contractionEnd(_ values: [UInt32], at i: Int, end: Int, fold: (UInt32) -> UInt32) -> Int? {
            guard i + 1 < end else { return nil }
            let first = fold(values[i + 1])
            if Scalars.oneLetterContractions.contains(first) { return i + 2 }
            guard i + 2 < end else { return nil }
            let second = fold(values[i + 2])
            for (a, b) in Scalars.twoLetterContractions where first == a && second == b { return i + 3 }
            return nil
        }

        /// Case-insensitive matching of the ASCII contraction letters: upper case, and `ſ` (U+017F,
        /// which folds to `s`), compare as lower case.
        private static func caseFold(_ value: UInt32) -> UInt32 {
            if (0x41...0x5A).contains(value) { return value + 0x20 }
            return value == 0x17F ? 0x73 : value
        }

        /// The end of the run of scalars of `classes[from]`'s class.
        private static func runEnd(_ classes: [ScalarClass], from: Int, end: Int) -> Int {
            let runClass = classes[from]
            var index = from + 1
            while index < end, classes[index] == runClass { index += 1 }
            return index
        }

        /// `\s+(?!\S)|\s+` at `i`, a whitespace scalar: the whole run when it reaches the end or is one
        /// scalar long; otherwise all but its last scalar, which joins the next piece (" word").
        private static func whitespaceEnd(_ classes: [ScalarClass], at i: Int, end: Int) -> Int {
            var runEnd = i + 1
            while runEnd < end, classes[runEnd] == .whitespace { runEnd += 1 }
            if runEnd == end || runEnd - i == 1 { return runEnd }
            return runEnd - 1
        }
    }
}

/// The regex classes a scalar can fall in.
enum ScalarClass: UInt8, Sendable {
    /// `\p{L}`
    case letter
    /// `\p{N}`
    case number
    /// `\s`
    case whitespace
    /// `[^\s\p{L}\p{N}]`
    case other

    init(_ scalar: Unicode.Scalar) {
        if scalar.isASCII {
            self = Self.ascii[Int(scalar.value)]
            return
        }
        let properties = scalar.properties
        if properties.isWhitespace {
            self = .whitespace
            return
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: self = .letter
        case .decimalNumber, .letterNumber, .otherNumber: self = .number
        default: self = .other
        }
    }

    private static let ascii: [ScalarClass] = (0..<128).map { value in
        switch UInt8(value) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): .number
        case 0x09...0x0D, 0x20: .whitespace
        default: .other
        }
    }
}

/// The scalars the pre-tokenisers look for.
private enum Scalars {
    static let apostrophe: UInt32 = 0x27
    static let space: UInt32 = 0x20
    static let oneLetterContractions: [UInt32] = [0x73, 0x74, 0x6D, 0x64]  // s t m d
    static let twoLetterContractions: [(UInt32, UInt32)] = [(0x72, 0x65), (0x76, 0x65), (0x6C, 0x6C)]  // re ve ll

    static func isLineBreak(_ value: UInt32) -> Bool { value == 0x0A || value == 0x0D }
}

/// A stretch of valid UTF-8 as scalars with their classes, and where each scalar starts in the bytes.
struct ScalarText {
    /// Scalar values, in order.
    var values: [UInt32] = []
    var classes: [ScalarClass] = []
    /// `byteOffsets[i]` is where scalar `i` starts; one more entry holds the byte count.
    var byteOffsets: [Int] = []

    init() {}

    init(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { load($0) }
    }

    /// Replaces the contents with the scalars of `bytes`, which must be valid UTF-8 (they come from a
    /// Swift `String`).
    mutating func load(_ bytes: UnsafeBufferPointer<UInt8>) {
        values.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        byteOffsets.removeAll(keepingCapacity: true)
        var index = 0
        while index < bytes.count {
            byteOffsets.append(index)
            let lead = UInt32(bytes[index])
            var value: UInt32
            var length: Int
            switch lead {
            case ..<0x80: (value, length) = (lead, 1)
            case ..<0xE0: (value, length) = (lead & 0x1F, 2)
            case ..<0xF0: (value, length) = (lead & 0x0F, 3)
            default: (value, length) = (lead & 0x07, 4)
            }
            for offset in 1..<length where index + offset < bytes.count {
                value = value << 6 | UInt32(bytes[index + offset] & 0x3F)
            }
            let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
            values.append(scalar.value)
            classes.append(ScalarClass(scalar))
            index += length
        }
        byteOffsets.append(bytes.count)
    }
}

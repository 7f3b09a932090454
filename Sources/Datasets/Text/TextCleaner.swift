/// Turns the raw text of review dumps into clean catalog text.
///
/// Steps, in order: drop HTML tags (`<br>` and block tags become a space), decode HTML entities
/// (named ones that appear in Amazon metadata, and all numeric `&#NNN;` / `&#xHH;` forms), collapse
/// runs of whitespace (including non-breaking spaces) into one space, trim. Text longer than the cap
/// is cut at the last word boundary before it and ends with "…", so that later embedding cannot blow
/// up memory on a pathological description.
public struct TextCleaner: Sendable {
    /// Maximum length of a cleaned title, in Unicode scalars (default 300).
    public var maxTitleLength: Int
    /// Maximum length of a cleaned description, in Unicode scalars (default 2,000, roughly 400-500
    /// WordPiece tokens: more than any 512-token encoder reads).
    public var maxDescriptionLength: Int

    public init(maxTitleLength: Int = 300, maxDescriptionLength: Int = 2000) {
        self.maxTitleLength = maxTitleLength
        self.maxDescriptionLength = maxDescriptionLength
    }

    /// A cleaned title, or nil when nothing but markup and whitespace remains.
    public func title(_ raw: String) -> String? {
        let text = Self.clean(raw, limit: maxTitleLength)
        return text.isEmpty ? nil : text
    }

    /// Cleans each part, drops empty ones and joins the rest with a space; nil when nothing remains.
    public func description(_ parts: [String]) -> String? {
        let cleaned = parts.map { Self.clean($0, limit: maxDescriptionLength) }.filter { !$0.isEmpty }
        guard !cleaned.isEmpty else { return nil }
        return Self.cap(cleaned.joined(separator: " "), limit: maxDescriptionLength)
    }

    /// Tags removed, entities decoded, whitespace collapsed and trimmed, capped to `limit` scalars.
    public static func clean(_ raw: String, limit: Int) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        let scalars = Array(raw.unicodeScalars)
        // Tags are recognised on the raw text and entities are decoded into the output, so an escaped
        // "&lt;b&gt;" stays visible while a real "<b>" is removed.
        var index = 0
        func emit(_ scalar: Unicode.Scalar) {
            if scalar.properties.isWhitespace || scalar == "\u{00A0}" {
                pendingSpace = !out.isEmpty
            } else if scalar.value >= 0x20 || scalar == "\t" {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.append(scalar)
            }
        }
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "<", let end = tagEnd(scalars, from: index) {
                pendingSpace = !out.isEmpty
                index = end + 1
                continue
            }
            if scalar == "&", let (decoded, end) = entity(scalars, from: index) {
                emit(decoded)
                index = end + 1
                continue
            }
            emit(scalar)
            index += 1
        }
        return cap(String(out), limit: limit)
    }

    /// `text` itself when it fits `limit` scalars, else cut at the last space before the limit plus "…".
    static func cap(_ text: String, limit: Int) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > limit, limit > 1 else { return text }
        let hardEnd = scalars.index(scalars.startIndex, offsetBy: limit - 1)
        var end = hardEnd
        if let space = scalars[..<hardEnd].lastIndex(of: " "), scalars.distance(from: scalars.startIndex, to: space) > limit / 2 {
            end = space
        }
        return String(scalars[..<end]) + "…"
    }

    /// Index of the `>` closing a tag that starts at `start`, if the text there looks like a tag
    /// (`<` followed by a letter, `/` or `!`, closed within 512 scalars).
    private static func tagEnd(_ scalars: [Unicode.Scalar], from start: Int) -> Int? {
        guard start + 1 < scalars.count else { return nil }
        let next = scalars[start + 1]
        guard next.properties.isAlphabetic || next == "/" || next == "!" else { return nil }
        let limit = min(scalars.count, start + 512)
        var index = start + 1
        while index < limit {
            if scalars[index] == ">" { return index }
            if scalars[index] == "<" { return nil }
            index += 1
        }
        return nil
    }

    /// The character an entity starting at `start` stands for, and the index of its `;`.
    private static func entity(_ scalars: [Unicode.Scalar], from start: Int) -> (Unicode.Scalar, Int)? {
        let limit = min(scalars.count, start + 12)
        guard let semicolon = (start + 1..<limit).first(where: { scalars[$0] == ";" }), semicolon > start + 1 else {
            return nil
        }
        var name = String.UnicodeScalarView()
        name.append(contentsOf: scalars[(start + 1)..<semicolon])
        let body = String(name)
        if body.hasPrefix("#") {
            let digits = body.dropFirst()
            let value: UInt32?
            if digits.first == "x" || digits.first == "X" {
                value = UInt32(digits.dropFirst(), radix: 16)
            } else {
                value = UInt32(digits, radix: 10)
            }
            guard let value, let scalar = Unicode.Scalar(value) else { return nil }
            return (scalar, semicolon)
        }
        guard let scalar = namedEntities[body] else { return nil }
        return (scalar, semicolon)
    }

    private static let namedEntities: [String: Unicode.Scalar] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{00A0}",
        "ndash": "\u{2013}", "mdash": "\u{2014}", "lsquo": "\u{2018}", "rsquo": "\u{2019}",
        "ldquo": "\u{201C}", "rdquo": "\u{201D}", "hellip": "\u{2026}", "bull": "\u{2022}",
        "middot": "\u{00B7}", "copy": "\u{00A9}", "reg": "\u{00AE}", "trade": "\u{2122}",
        "deg": "\u{00B0}", "frac12": "\u{00BD}", "frac14": "\u{00BC}", "frac34": "\u{00BE}",
        "times": "\u{00D7}", "eacute": "\u{00E9}", "egrave": "\u{00E8}", "aacute": "\u{00E1}",
        "agrave": "\u{00E0}", "iacute": "\u{00ED}", "oacute": "\u{00F3}", "uacute": "\u{00FA}",
        "ntilde": "\u{00F1}", "uuml": "\u{00FC}", "ouml": "\u{00F6}", "auml": "\u{00E4}",
        "ccedil": "\u{00E7}", "szlig": "\u{00DF}", "euro": "\u{20AC}", "pound": "\u{00A3}",
        "cent": "\u{00A2}", "yen": "\u{00A5}", "sect": "\u{00A7}", "para": "\u{00B6}",
        "laquo": "\u{00AB}", "raquo": "\u{00BB}", "iexcl": "\u{00A1}", "iquest": "\u{00BF}",
        "plusmn": "\u{00B1}", "micro": "\u{00B5}", "ordm": "\u{00BA}", "ordf": "\u{00AA}",
    ]
}

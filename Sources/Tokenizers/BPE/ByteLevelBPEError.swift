/// Errors building a `ByteLevelBPETokenizer` from `vocab.json` + `merges.txt`, `tokenizer.json` or GGUF
/// metadata.
///
/// `source` names what was being read: a file path, or a GGUF key such as `tokenizer.ggml.merges`, so
/// the message alone says what to fix.
public enum ByteLevelBPEError: Error, Sendable, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    /// The file exists but cannot be read (permissions, a directory).
    case unreadable(path: String, reason: String)
    /// The token list is empty, not valid JSON, gives one id to two tokens, leaves a gap in the ids, ...
    case malformedVocabulary(source: String, reason: String)
    /// A merge that is not two tokens, or names a token (or a concatenation) the vocabulary lacks.
    /// `reason` says which line (`merges.txt`, from 1) or entry (arrays, from 0).
    case malformedMerges(source: String, reason: String)
    /// `tokenizer.json` is not JSON, or a field the BPE pipeline needs is missing or mistyped.
    case malformedTokenizerJSON(path: String, reason: String)
    /// A GGUF value passed in is inconsistent: token types not one per token, an id outside the vocabulary.
    case malformedMetadata(key: String, reason: String)
    /// The source asks for a step this tokenizer does not implement: another model type, a normaliser,
    /// a pre-tokeniser regex or GGUF `tokenizer.ggml.pre` it does not know, byte fallback, ...
    case unsupported(source: String, feature: String)
    /// A token the configuration names (BOS, EOS, unknown) is not in the vocabulary.
    case missingSpecialToken(name: String, source: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "\(path): no such file"
        case .unreadable(let path, let reason): return "\(path): cannot read (\(reason))"
        case .malformedVocabulary(let source, let reason): return "\(source): malformed vocabulary: \(reason)"
        case .malformedMerges(let source, let reason): return "\(source): malformed merges: \(reason)"
        case .malformedTokenizerJSON(let path, let reason): return "\(path): malformed tokenizer.json: \(reason)"
        case .malformedMetadata(let key, let reason): return "GGUF \(key): \(reason)"
        case .unsupported(let source, let feature):
            return "\(source): \(feature) is not supported by the byte-level BPE tokenizer"
        case .missingSpecialToken(let name, let source): return "\(source): special token '\(name)' is not in the vocabulary"
        }
    }

    /// The same failure, from the shared file and JSON helpers (which report `TokenizerError`).
    init(_ error: TokenizerError) {
        switch error {
        case .fileNotFound(let path): self = .fileNotFound(path: path)
        case .unreadable(let path, let reason): self = .unreadable(path: path, reason: reason)
        case .malformedTokenizerJSON(let path, let reason): self = .malformedTokenizerJSON(path: path, reason: reason)
        case .malformedVocabulary(let path, let line, let reason):
            self = .malformedVocabulary(source: path, reason: "line \(line): \(reason)")
        case .malformedConfiguration(let path, let reason): self = .malformedVocabulary(source: path, reason: reason)
        case .unsupported(let path, let feature): self = .unsupported(source: path, feature: feature)
        case .missingSpecialToken(let name, let path): self = .missingSpecialToken(name: name, source: path)
        }
    }
}

/// Errors loading a tokenizer from `vocab.txt`, `tokenizer_config.json` or `tokenizer.json`.
///
/// Every case names the file it is about, so the message alone tells the user which file to fix.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    /// The file exists but cannot be read (permissions, a directory).
    case unreadable(path: String, reason: String)
    /// A `vocab.txt` line that cannot be a token: not UTF-8, empty, or a repeat of an earlier line.
    /// `line` counts from 1.
    case malformedVocabulary(path: String, line: Int, reason: String)
    /// `tokenizer.json` is not JSON, or a field the WordPiece pipeline needs is missing or mistyped.
    case malformedTokenizerJSON(path: String, reason: String)
    /// `tokenizer_config.json` is not a JSON object, or one of its fields has the wrong type.
    case malformedConfiguration(path: String, reason: String)
    /// The file asks for a pipeline step this BERT WordPiece tokenizer does not implement
    /// (another model type, normaliser or pre-tokeniser, `do_basic_tokenize: false`, ...).
    case unsupported(path: String, feature: String)
    /// A token the tokenizer needs (`[UNK]`, `[CLS]`, `[SEP]`, `[PAD]`, `[MASK]` or the configured
    /// replacement) is not in the vocabulary.
    case missingSpecialToken(name: String, path: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "\(path): no such file"
        case .unreadable(let path, let reason): return "\(path): cannot read (\(reason))"
        case .malformedVocabulary(let path, let line, let reason):
            return "\(path):\(line): malformed vocabulary line: \(reason)"
        case .malformedTokenizerJSON(let path, let reason): return "\(path): malformed tokenizer.json: \(reason)"
        case .malformedConfiguration(let path, let reason):
            return "\(path): malformed tokenizer configuration: \(reason)"
        case .unsupported(let path, let feature):
            return "\(path): \(feature) is not supported; only BERT WordPiece tokenizers can be loaded"
        case .missingSpecialToken(let name, let path):
            return "\(path): special token '\(name)' is not in the vocabulary"
        }
    }
}

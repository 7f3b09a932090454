import Foundation
import Testing
import Tokenizers

/// Fixture paths, the golden cases and scratch files for the Tokenizers tests.
///
/// The fixtures are copied unchanged from published packages; `Fixtures/README.md` says from where.
enum Support {
    /// The two ways to load all-MiniLM-L6-v2's tokenizer; both must give the same ids.
    enum Loader: String, CaseIterable, CustomStringConvertible, Sendable {
        /// `vocab.txt` with `tokenizer_config.json`, as the Python `BertTokenizer` loads it.
        case vocabularyFile
        /// `tokenizer.json`, as the Rust `tokenizers` library loads it.
        case tokenizerJSON

        var description: String { rawValue }

        func tokenizer() throws -> WordPieceTokenizer {
            switch self {
            case .vocabularyFile: try Support.vocabularyFileTokenizer.get()
            case .tokenizerJSON: try Support.tokenizerJSONTokenizer.get()
            }
        }
    }

    /// One golden case: a text and the ids Hugging Face's tokenizer gives it, without `[CLS]`/`[SEP]`.
    struct GoldenCase {
        let text: String
        let ids: [Int32]
    }

    static func fixture(_ name: String) -> String {
        Bundle.module.resourcePath! + "/Fixtures/" + name
    }

    private static let vocabularyFileTokenizer = Result { () throws(TokenizerError) in
        try WordPieceTokenizer(vocabularyPath: fixture("vocab.txt"), configurationPath: fixture("tokenizer_config.json"))
    }

    private static let tokenizerJSONTokenizer = Result { () throws(TokenizerError) in
        try WordPieceTokenizer(tokenizerJSONPath: fixture("tokenizer.json"))
    }

    /// llama.cpp's bert-base-uncased cases: the `.inp` texts are each followed by
    /// `"\n__ggml_vocab_test__\n"` (the piece after the last one is empty and dropped); the `.out` has
    /// one line of space-preceded ids per text.
    static func goldenCases() throws -> [GoldenCase] {
        let input = try Data(contentsOf: URL(fileURLWithPath: fixture("ggml-vocab-bert-bge.gguf.inp")))
        let output = try String(contentsOfFile: fixture("ggml-vocab-bert-bge.gguf.out"), encoding: .utf8)
        // Split on bytes, not Characters: a text ending in "\r" would fuse with the separator's "\n".
        var texts = split(Array(input), on: Array("\n__ggml_vocab_test__\n".utf8)).map {
            String(decoding: $0, as: UTF8.self)
        }
        try #require(texts.last == "")
        texts.removeLast()
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        try #require(lines.count == texts.count, "\(lines.count) id lines for \(texts.count) texts")
        return try zip(texts, lines).map { text, line in
            let ids = try line.split(separator: " ").map { try #require(Int32($0), "bad id '\($0)'") }
            return GoldenCase(text: text, ids: ids)
        }
    }

    private static func split(_ bytes: [UInt8], on separator: [UInt8]) -> [ArraySlice<UInt8>] {
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index + separator.count <= bytes.count {
            if bytes[index..<(index + separator.count)].elementsEqual(separator) {
                pieces.append(bytes[start..<index])
                index += separator.count
                start = index
            } else {
                index += 1
            }
        }
        pieces.append(bytes[start...])
        return pieces
    }

    /// A fresh, empty directory under the system's temporary directory.
    static func scratchDirectory(_ label: String = #function) -> String {
        let path = NSTemporaryDirectory() + "llmrec-tests-\(label.filter(\.isLetter))-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes `bytes` to `directory/name` and returns the path.
    @discardableResult
    static func write(_ bytes: [UInt8], to directory: String, name: String) -> String {
        let path = directory + "/" + name
        try! Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Writes `text` (UTF-8) to `directory/name` and returns the path.
    @discardableResult
    static func write(_ text: String, to directory: String, name: String) -> String {
        write(Array(text.utf8), to: directory, name: name)
    }

    /// The fixture `tokenizer.json` as a JSON object, for tests that alter one field and write it back.
    static func tokenizerJSONObject() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("tokenizer.json")))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Writes `object` as JSON to `directory/name` and returns the path.
    static func writeJSON(_ object: [String: Any], to directory: String, name: String) throws -> String {
        write(Array(try JSONSerialization.data(withJSONObject: object)), to: directory, name: name)
    }
}

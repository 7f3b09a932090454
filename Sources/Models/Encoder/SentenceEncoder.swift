import Checkpoints
import Dispatch
import Foundation
import Numerics
import Tokenizers

/// A sentence-transformers model read from its directory: `modules.json` (Transformer → Pooling →
/// optional Normalize), `config.json`, `model.safetensors`, `sentence_bert_config.json`
/// (`max_seq_length`), `1_Pooling/config.json` and the tokenizer (`tokenizer.json`, or `vocab.txt`
/// with `tokenizer_config.json`).
///
/// Embedding sorts texts by token count and packs similar lengths into batches (padding stays
/// small) under a memory budget, so that a catalog of long descriptions embeds in bounded memory.
/// Immutable; `embed` may be called from any thread.
public final class SentenceEncoder: Sendable {
    public let directory: String
    public let encoder: TransformerEncoder
    public let tokenizer: WordPieceTokenizer
    public let pooling: SentencePooling
    public let maxSequenceLength: Int
    /// Identifies the weights and pipeline: FNV-1a-64 of the configuration files, the weights and,
    /// for bfloat16 products, the precision (so that caches of float32 vectors are not mixed with
    /// bfloat16 ones).
    public let fingerprint: String

    /// Batches hold at most this many tokens (rows × padded length): a batch's activations are then
    /// a few tens of MB whatever the texts' length (attention keeps one length² scratch at a time).
    public static let tokensPerBatch = 4096

    /// - precision: how the encoder's linear layers multiply; bfloat16 falls back to float32 on a
    ///   CPU without AVX-512 BF16 (`encoder.precision` says which is in effect).
    public init(directory: String, precision: TransformerEncoder.Precision = .float32) throws {
        self.directory = directory
        let modules = try Self.json(directory + "/modules.json") as? [[String: Any]] ?? []
        let types = modules.compactMap { $0["type"] as? String }
        guard types.first?.hasSuffix("Transformer") == true else {
            throw EncoderError.malformedConfiguration(path: directory + "/modules.json", reason: "the first module must be a Transformer")
        }
        var pooling = SentencePooling(mode: .mean, normalize: types.contains { $0.hasSuffix("Normalize") })
        if let poolingPath = modules.first(where: { ($0["type"] as? String)?.hasSuffix("Pooling") == true })?["path"] as? String,
            let config = try? Self.json(directory + "/" + poolingPath + "/config.json") as? [String: Any]
        {
            if config["pooling_mode_cls_token"] as? Bool == true { pooling.mode = .cls }
            if config["pooling_mode_max_tokens"] as? Bool == true { pooling.mode = .max }
            if config["pooling_mode_mean_tokens"] as? Bool == true { pooling.mode = .mean }
        }
        self.pooling = pooling
        let configuration = try EncoderConfiguration(contentsOf: directory + "/config.json")
        let weightsPath = directory + "/model.safetensors"
        encoder = TransformerEncoder(
            configuration: configuration, weights: try EncoderWeights(file: try SafetensorsFile(path: weightsPath), configuration: configuration),
            precision: precision)
        let sentenceConfig = (try? Self.json(directory + "/sentence_bert_config.json")) as? [String: Any]
        maxSequenceLength = min(sentenceConfig?["max_seq_length"] as? Int ?? 512, configuration.maxPositions)
        if FileManager.default.fileExists(atPath: directory + "/tokenizer.json") {
            tokenizer = try WordPieceTokenizer(tokenizerJSONPath: directory + "/tokenizer.json")
        } else {
            let configurationPath = directory + "/tokenizer_config.json"
            tokenizer = try WordPieceTokenizer(
                vocabularyPath: directory + "/vocab.txt",
                configurationPath: FileManager.default.fileExists(atPath: configurationPath) ? configurationPath : nil)
        }
        fingerprint = try Self.fingerprint(
            of: ["modules.json", "config.json", "sentence_bert_config.json", "model.safetensors"].map { directory + "/" + $0 },
            precision: encoder.precision)
    }

    /// Width of the sentence vectors.
    public var dimension: Int { encoder.configuration.hiddenSize }

    /// One vector per text, in order. `threads` batches run in parallel (each with single-threaded
    /// BLAS); `progress` receives the number of texts done so far, from the calling thread.
    public func embed(_ texts: [String], threads: Int = 1, progress: ((Int) -> Void)? = nil) -> [[Float]] {
        let encoded = texts.map { tokenizer.encode($0, addSpecialTokens: true, maxLength: maxSequenceLength) }
        let batches = Self.batches(lengths: encoded.map(\.count))
        let results = EmbeddingResults(count: texts.count)
        let encoder = self.encoder
        let pooling = self.pooling
        var done = 0
        // Groups of `threads` batches run together; progress is reported between groups.
        for groupStart in stride(from: 0, to: batches.count, by: max(1, threads)) {
            let group = Array(batches[groupStart..<min(groupStart + max(1, threads), batches.count)])
            DispatchQueue.concurrentPerform(iterations: group.count) { index in
                let members = group[index]
                let length = members.map { encoded[$0].count }.max() ?? 1
                var ids = [Int32](repeating: 0, count: members.count * length)
                var lengths = [Int32](repeating: 0, count: members.count)
                for (row, member) in members.enumerated() {
                    for (column, id) in encoded[member].enumerated() { ids[row * length + column] = id }
                    lengths[row] = Int32(encoded[member].count)
                }
                let hidden = encoder.forward(ids: ids, lengths: lengths, batch: members.count, length: length).hidden
                let vectors = pooling.pool(
                    hidden: hidden, lengths: lengths, batch: members.count, length: length, dim: encoder.configuration.hiddenSize)
                for (row, member) in members.enumerated() { results.store(vectors[row], at: member) }
            }
            done += group.reduce(0) { $0 + $1.count }
            progress?(done)
        }
        return results.vectors
    }

    /// Indices grouped into batches of similar length, longest first, under the memory budget.
    public static func batches(lengths: [Int], maxRows: Int = 64) -> [[Int]] {
        let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
        var batches: [[Int]] = []
        var current: [Int] = []
        var currentLength = 0
        for index in order {
            let length = max(currentLength, lengths[index], 1)
            let rows = current.count + 1
            let fits = rows <= maxRows && rows * length <= tokensPerBatch
            if !fits && !current.isEmpty {
                batches.append(current)
                current = []
                currentLength = 0
            }
            current.append(index)
            currentLength = max(currentLength, lengths[index])
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    private static func json(_ path: String) throws -> Any {
        let data: Data
        do { data = try ModelFile.contents(of: path) } catch .fileNotFound { throw EncoderError.missingFile(path: path) }
        do { return try JSONSerialization.jsonObject(with: data) } catch {
            throw EncoderError.malformedConfiguration(path: path, reason: "not valid JSON")
        }
    }

    /// FNV-1a-64 over the existing files' bytes, read in 1 MiB chunks, then the precision's name
    /// unless it is float32 (whose fingerprints predate the choice).
    private static func fingerprint(of paths: [String], precision: TransformerEncoder.Precision) throws -> String {
        var hash = FNV1a64()
        for path in paths where FileManager.default.fileExists(atPath: path) {
            try ModelFile.readChunks(of: path) { hash.combine($0) }
        }
        if precision != .float32 { hash.combine(precision.rawValue.utf8) }
        return hash.hex
    }
}

/// Result slots written by concurrent batches (each slot by exactly one batch).
private final class EmbeddingResults: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var vectors: [[Float]]

    init(count: Int) { vectors = [[Float]](repeating: [], count: count) }

    func store(_ vector: [Float], at index: Int) {
        lock.lock()
        vectors[index] = vector
        lock.unlock()
    }
}

extension SentenceEncoder {
    /// Writes a sentence-transformers directory at `destination` that is `source` with its weights
    /// replaced by `weights` (a fine-tuned copy): every file and folder of `source` but
    /// `model.safetensors` is copied, and `model.safetensors` is written from `weights` under the
    /// checkpoint family's names. Replaces an existing `destination`.
    public static func writeDirectory(from source: String, weights: EncoderWeights, configuration: EncoderConfiguration, to destination: String) throws {
        let manager = FileManager.default
        if manager.fileExists(atPath: destination) { try manager.removeItem(atPath: destination) }
        try manager.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for entry in try manager.contentsOfDirectory(atPath: source) where entry != "model.safetensors" && !entry.hasPrefix(".") {
            try manager.copyItem(atPath: source + "/" + entry, toPath: destination + "/" + entry)
        }
        try SafetensorsFile.write(
            tensors: weights.namedTensors(configuration: configuration), metadata: ["format": "pt", "finetunedFrom": source],
            to: destination + "/model.safetensors")
    }
}

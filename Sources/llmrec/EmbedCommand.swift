import ArgumentParser
import Datasets
import Foundation
import JSON
import Models
import Numerics
import Support

extension CatalogEmbeddings.Field: ExpressibleByArgument {}
extension TransformerEncoder.Precision: ExpressibleByArgument {}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Sentence embeddings with a BERT-family sentence-transformers model (e.g. all-MiniLM-L6-v2).",
        discussion: """
            With --text or --texts-file, prints one JSON object per text ({"text", "embedding"}). With \
            --catalog, embeds every item of a prepared dataset into its embedding cache \
            (DATA/embeddings/<model>-<field>.safetensors; reused and extended, resumable) and prints a \
            JSON summary. Progress and ETA on stderr.
            """
    )

    @Option(help: "sentence-transformers model directory (default: the fetched all-MiniLM-L6-v2).")
    var model: String = AssetCache.asset("minilm-l6-v2")

    @Option(help: "A text to embed (repeatable).")
    var text: [String] = []

    @Option(help: "A file with one text per line.")
    var textsFile: String?

    @Option(help: "A prepared dataset whose catalog to embed.")
    var catalog: String?

    @Option(help: "Catalog text: title, or text (A-LLMRec's \"title, description\").")
    var field: CatalogEmbeddings.Field = .text

    @Option(help: "Threads embedding batches in parallel (single-threaded BLAS each).")
    var embeddingThreads = 1

    @Option(
        help: """
            Products of the linear layers: f32 (default) or bf16 (bfloat16 with float32 sums, AVX-512 BF16 \
            only; cosine above 0.9999 with float32, slower than f32 on the hosts measured).
            """)
    var precision: TransformerEncoder.Precision = .float32

    @Flag(help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        let modes = [!text.isEmpty, textsFile != nil, catalog != nil].filter { $0 }.count
        guard modes == 1 else { throw ValidationError("give --text, --texts-file or --catalog (one of them)") }
        guard embeddingThreads >= 1 else { throw ValidationError("--embedding-threads must be positive") }
    }

    func run() throws {
        BLAS.setThreads(1)
        do {
            let started = Date()
            let encoder = try SentenceEncoder(directory: model, precision: precision)
            if let catalog {
                let dataset = try PreparedDataset(directory: catalog)
                let meter = ProgressMeter(label: "embed catalog", total: Int64(dataset.catalog.count), unit: .items("items"), enabled: !quiet)
                let embedStarted = Date()
                let result = try CatalogEmbeddings.embeddings(dataset: dataset, encoder: encoder, field: field, threads: embeddingThreads) {
                    done, _ in meter.update(Int64(done))
                }
                meter.finish(Int64(dataset.catalog.count))
                let seconds = Date().timeIntervalSince(embedStarted)
                let summary: JSONValue = [
                    "items": .integer(dataset.catalog.count), "computed": .integer(result.computed), "reused": .integer(result.reused),
                    "dimension": .integer(encoder.dimension), "precision": .string(encoder.encoder.precision.rawValue),
                    "seconds": .number(seconds),
                    "sentencesPerSecond": .number(result.computed > 0 ? Double(result.computed) / seconds : 0),
                    "totalSeconds": .number(Date().timeIntervalSince(started)), "peakRSSBytes": .integer(peakResidentBytes()),
                    "cache": .string(CatalogEmbeddings.cachePath(datasetDirectory: catalog, encoder: encoder, field: field)),
                ]
                print(JSONWriter.compact(summary))
                return
            }
            var texts = text
            if let textsFile {
                guard let content = FileManager.default.contents(atPath: textsFile) else {
                    throw InputError.fileNotFound(path: textsFile)
                }
                texts = String(decoding: content, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                    .map(String.init).filter { !$0.isEmpty }
            }
            let meter = ProgressMeter(label: "embed", total: Int64(texts.count), unit: .items("texts"), enabled: !quiet && texts.count > 1)
            let embedStarted = Date()
            let vectors = encoder.embed(texts, threads: embeddingThreads) { meter.update(Int64($0)) }
            meter.finish(Int64(texts.count))
            let seconds = Date().timeIntervalSince(embedStarted)
            for (item, vector) in zip(texts, vectors) {
                let line: JSONValue = [
                    "text": .string(item), "embedding": .array(vector.map { .number(shortest: $0) }),
                ]
                print(JSONWriter.compact(line))
            }
            if !quiet {
                let summary: JSONValue = [
                    "texts": .integer(texts.count), "precision": .string(encoder.encoder.precision.rawValue), "seconds": .number(seconds),
                    "sentencesPerSecond": .number(Double(texts.count) / max(seconds, 1e-9)), "peakRSSBytes": .integer(peakResidentBytes()),
                ]
                FileHandle.standardError.write(Data((JSONWriter.compact(summary) + "\n").utf8))
            }
        } catch {
            throw fail(error)
        }
    }
}

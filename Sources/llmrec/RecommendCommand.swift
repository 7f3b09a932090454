import ArgumentParser
import Datasets
import Foundation
import JSON
import Models
import Numerics
import Recommender
import Training

struct RecommendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommend",
        abstract: "One-shot: load a dataset, fit the recommender, answer one request, exit.",
        discussion: """
            Prints the same JSON object `session/recommend` returns (without sessionId). This is what \
            the daemon saves a client from paying on every request; `scripts/bench-daemon.py` compares the two.
            """
    )

    @Option(help: "Prepared dataset directory.")
    var data: String

    @Option(help: "Comma-separated item ids, oldest first.")
    var history: String

    @Option(help: "How many items to return.")
    var k = 10

    @Option(help: "Recommender: \(ModelSpecification.knownNames.joined(separator: ", ")).")
    var recommender = "cooccurrence"

    func run() throws {
        // Small products: OpenBLAS threads would only spin and yield.
        BLAS.setThreads(1)
        do {
            let ids = try history.split(separator: ",").map { text -> Int32 in
                guard let id = Int32(text.trimmingCharacters(in: .whitespaces)), id > 0 else {
                    throw ValidationError("--history must be comma-separated positive item ids, got '\(text)'")
                }
                return id
            }
            guard k >= 1 else { throw ValidationError("--k must be positive") }
            let dataset = try PreparedDataset(directory: data)
            let specification = try ModelSpecification(parsing: recommender)
            let engine = RecommendationEngine(
                recommender: try specification.build(on: dataset, using: .everything), catalog: dataset.catalog)
            let ranked = try engine.recommend(history: ids, k: k, candidates: nil, excluded: ids)
            let unknown = engine.unknownItems(ids)
            guard unknown.isEmpty else { throw EngineError.unknownItems(unknown) }
            let result: JSONValue = [
                "recommender": .string(engine.recommender.name),
                "items": .array(ranked.map {
                    ["itemId": .integer($0.itemId), "score": .number(shortest: $0.score), "title": .string(dataset.catalog[$0.itemId]?.title ?? "")]
                }),
            ]
            print(JSONWriter.compact(result))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}

import Foundation
import JSON

/// Writes an evaluator's cases as JSONL — `{"user", "history", "target", "candidates"}` per line,
/// target first among the candidates — so that external implementations (the PyTorch benchmark)
/// score exactly the cases this project scores.
public enum CaseFile {
    public static func write(evaluator: Evaluator, evaluationProtocol: EvaluationProtocol, to path: String) throws {
        var text = ""
        for user in evaluator.users(for: evaluationProtocol) {
            let testCase = evaluator.makeCase(user: user, evaluationProtocol: evaluationProtocol)
            let line: JSONValue = [
                "user": .integer(user), "history": .array(testCase.history.map { .integer($0) }),
                "target": .integer(testCase.target), "candidates": .array(testCase.candidates.map { .integer($0) }),
            ]
            text += JSONWriter.compact(line) + "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// Collects every model's scores of every case as JSONL — `{"model", "protocol", "split", "user",
/// "target", "candidates", "scores"}` per line, target first, scores in candidate order, null where not finite — for
/// blending or analysis outside this project. Not thread-safe; `write(to:)` replaces the file at once.
public struct ScoreFile {
    private var text = ""

    public init() {}

    /// Adds one line: `scores` are `model`'s for `testCase`'s candidates under `evaluationProtocol`.
    public mutating func add(model: String, evaluationProtocol: EvaluationProtocol, split: EvaluationSplit, testCase: Evaluator.Case, scores: [Float]) {
        let line: JSONValue = [
            "model": .string(model), "protocol": .string(evaluationProtocol.description), "split": .string(split.rawValue),
            "user": .integer(testCase.user), "target": .integer(testCase.target),
            "candidates": .array(testCase.candidates.map { .integer($0) }), "scores": .array(scores.map { $0.isFinite ? .number(Double($0)) : .null }),
        ]
        text += JSONWriter.compact(line) + "\n"
    }

    public func write(to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

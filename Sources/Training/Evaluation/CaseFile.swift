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

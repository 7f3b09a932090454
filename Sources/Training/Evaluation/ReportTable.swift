/// Renders evaluation reports as a Markdown table: one row per model and protocol, overall, cold and
/// warm side by side.
public enum ReportTable {
    public static func markdown(_ reports: [EvaluationReport]) -> String {
        var lines = [
            "| model | protocol | cases | Hit@1 | Hit@5 | Hit@10 | NDCG@10 | MRR | cold cases | cold Hit@1 | cold NDCG@10 | warm cases | warm Hit@1 | warm NDCG@10 |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        var blind: [String] = []
        for report in reports {
            let overall = report.overall
            var model = report.model
            if case .heldOutItems = report.evaluationProtocol, !report.scoresItemsWithoutInteractions {
                model += " †"
                if !blind.contains(report.model) { blind.append(report.model) }
            }
            let cells = [
                model, report.evaluationProtocol.description, "\(overall.cases)",
                format(overall.hit(at: 1)), format(overall.hit(at: 5)), format(overall.hit(at: 10)),
                format(overall.ndcg(at: 10)), format(overall.mrr),
                "\(report.cold.cases)", format(report.cold.hit(at: 1)), format(report.cold.ndcg(at: 10)),
                "\(report.warm.cases)", format(report.warm.hit(at: 1)), format(report.warm.ndcg(at: 10)),
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        if !blind.isEmpty {
            lines += [
                "", "† \(blind.joined(separator: ", ")) cannot score an item without training interactions: "
                    + "on the cold-start protocol its ranks of held-out items are at random, not a measurement of it.",
            ]
        }
        return lines.joined(separator: "\n")
    }

    static func format(_ value: Double) -> String {
        let scaled = Int((value * 10000).rounded())
        let fraction = String(scaled % 10000)
        return "\(scaled / 10000)." + String(repeating: "0", count: 4 - fraction.count) + fraction
    }
}

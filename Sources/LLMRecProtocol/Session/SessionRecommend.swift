import JSON

/// `session/recommend`: the best items for a session.
public enum SessionRecommend {
    public static let method = "session/recommend"

    public struct Params: Sendable {
        public var sessionId: String
        public var k: Int
        public var candidates: [Int32]?
        public var exclude: [Int32]
        public var excludeSeen: Bool
        public var workDoneToken: JSONValue?
        /// Words to rank for on top of the session's conversation (the text path), not remembered.
        public var query: String?
        /// Whether the LM explains the list in a sentence or two (`explanation` in the result).
        public var explain: Bool
        public var weights: SessionMessage.Weights

        public init(_ params: JSONValue?, maxK: Int, maxCandidates: Int) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            sessionId = try SessionIdentifier.read(reader)
            k = try reader.int("k", default: 10, in: 1...maxK)
            candidates = try reader.optionalItemIds("candidates", count: 1...maxCandidates)
            exclude = try reader.optionalItemIds("exclude", count: 0...maxCandidates) ?? []
            excludeSeen = try reader.bool("excludeSeen", default: true)
            workDoneToken = try reader.progressToken()
            query = try reader.has("query") ? reader.string("query", length: 1...4000) : nil
            explain = try reader.bool("explain", default: false)
            weights = try SessionMessage.Weights.read(reader)
        }
    }

    public struct Recommendation: Sendable {
        public var itemId: Int32
        public var score: Float
        public var title: String

        public init(itemId: Int32, score: Float, title: String) {
            self.itemId = itemId
            self.score = score
            self.title = title
        }
    }

    public static func result(sessionId: String, recommender: String, items: [Recommendation]) -> JSONValue {
        [
            "sessionId": .string(sessionId), "recommender": .string(recommender),
            "items": .array(items.map {
                ["itemId": .integer($0.itemId), "score": .number(Double(shortest: $0.score)), "title": .string($0.title)]
            }),
        ]
    }
}

extension SessionRecommend {
    /// The result of the blended engine: each item with its score broken down, and the LM's
    /// explanation when asked for.
    public static func blendedResult(
        sessionId: String, recommender: String, items: [SessionMessage.RankedItem], explanation: SessionMessage.Answer?,
        languageModelRanked: Int
    ) -> JSONValue {
        var result: JSONObject = [
            "sessionId": .string(sessionId), "recommender": .string(recommender), "items": .array(items.map(\.json)),
            "languageModelRanked": .integer(languageModelRanked),
        ]
        if let explanation { result["explanation"] = explanation.json }
        return .object(result)
    }
}

extension Double {
    /// The double whose shortest decimal form equals the float's (`0.1` stays `0.1` on the wire,
    /// not `0.10000000149011612`).
    public init(shortest value: Float) {
        self = Double("\(value)") ?? Double(value)
    }
}

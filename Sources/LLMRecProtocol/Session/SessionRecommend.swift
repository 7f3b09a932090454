import JSON
import JSONRPC

/// `session/recommend`: the best items for a session.
public enum SessionRecommend {
    public struct Request: LLMRecRequest, Equatable {
        public static let method = "session/recommend"
        public typealias Response = SessionRecommend.Response

        public var sessionId: String
        public var k: Int
        /// Rank only these items; nil ranks the catalog.
        public var candidates: [Int32]?
        public var exclude: [Int32]
        public var excludeSeen: Bool
        public var workDoneToken: JSONValue?
        /// Words to rank for on top of the session's conversation (the text path), not remembered.
        public var query: String?
        /// Whether the LM explains the list in a sentence or two (`explanation` in the result).
        public var explain: Bool
        public var weights: SessionMessage.Weights

        public init(
            sessionId: String, k: Int = 10, candidates: [Int32]? = nil, exclude: [Int32] = [], excludeSeen: Bool = true,
            workDoneToken: JSONValue? = nil, query: String? = nil, explain: Bool = false,
            weights: SessionMessage.Weights = SessionMessage.Weights()
        ) {
            self.sessionId = sessionId
            self.k = k
            self.candidates = candidates
            self.exclude = exclude
            self.excludeSeen = excludeSeen
            self.workDoneToken = workDoneToken
            self.query = query
            self.explain = explain
            self.weights = weights
        }

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            sessionId = try SessionIdentifier.read(reader)
            k = try reader.int("k", default: 10, in: 1...limits.maxK)
            candidates = try reader.optionalItemIds("candidates", count: 1...limits.maxCandidates)
            exclude = try reader.optionalItemIds("exclude", count: 0...limits.maxCandidates) ?? []
            excludeSeen = try reader.bool("excludeSeen", default: true)
            workDoneToken = try reader.progressToken()
            query = try reader.has("query") ? reader.string("query", length: 1...4000) : nil
            explain = try reader.bool("explain", default: false)
            weights = try SessionMessage.Weights.read(reader)
        }

        public var params: JSONValue? {
            var writer = ParamsWriter()
            writer.set("sessionId", sessionId)
            writer.set("k", k)
            writer.set("candidates", itemIds: candidates)
            if !exclude.isEmpty { writer.set("exclude", itemIds: exclude) }
            writer.set("excludeSeen", excludeSeen)
            writer.set("workDoneToken", workDoneToken)
            writer.set("query", query)
            if explain { writer.set("explain", true) }
            writer.set("weights", weights.json)
            return writer.params
        }

        public var progressToken: JSONValue? { workDoneToken }
    }

    /// The ranked items. From the collaborative model alone each item has only its score; from
    /// the blended engine it has its score broken down, and the result says how many items the LM
    /// ranked and, when asked for, the LM's explanation.
    public struct Response: WireCodable, Equatable {
        public var sessionId: String
        public var recommender: String
        public var items: [SessionMessage.RankedItem]
        /// Set by the blended engine only.
        public var languageModelRanked: Int?
        public var explanation: SessionMessage.Answer?

        public init(
            sessionId: String, recommender: String, items: [SessionMessage.RankedItem], languageModelRanked: Int? = nil,
            explanation: SessionMessage.Answer? = nil
        ) {
            self.sessionId = sessionId
            self.recommender = recommender
            self.items = items
            self.languageModelRanked = languageModelRanked
            self.explanation = explanation
        }

        public var json: JSONValue {
            var result: JSONObject = [
                "sessionId": .string(sessionId), "recommender": .string(recommender), "items": .array(items.map(\.json)),
            ]
            if let languageModelRanked { result["languageModelRanked"] = .integer(languageModelRanked) }
            if let explanation { result["explanation"] = explanation.json }
            return .object(result)
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            sessionId = try reader.string("sessionId")
            recommender = try reader.string("recommender")
            items = try reader.array("items", of: SessionMessage.RankedItem.self)
            languageModelRanked = try reader.optionalInt("languageModelRanked")
            explanation = try reader.optionalDecode("explanation")
        }
    }
}

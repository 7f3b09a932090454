import JSON
import JSONRPC

/// `session/message`: the user's words in a session. The reply has ranked items with their
/// scores broken down, the LM's answer and what the daemon understood; the answer streams as
/// `session/answerDelta` notifications before the reply.
public enum SessionMessage {
    public static let method = "session/message"
    /// Notification carrying the next piece of a streamed answer.
    public static let deltaNotification = "session/answerDelta"

    /// Blend weights a request may set (each 0...10); absent ones keep the daemon's defaults.
    public struct Weights: Sendable, Equatable {
        public var collaborative: Double?
        public var text: Double?
        public var facet: Double?
        public var languageModel: Double?

        public init(collaborative: Double? = nil, text: Double? = nil, facet: Double? = nil, languageModel: Double? = nil) {
            self.collaborative = collaborative
            self.text = text
            self.facet = facet
            self.languageModel = languageModel
        }

        static let fields = ["collaborative", "text", "facet", "languageModel"]

        /// Reads `weights` from `reader` (absent: all nil).
        static func read(_ reader: ParamsReader) throws(InvalidParams) -> Weights {
            guard let object = try reader.optionalObject("weights") else { return Weights() }
            let inner = try ParamsReader(.object(object))
            if let unknown = inner.unknownFields(Set(fields)).first {
                throw InvalidParams(field: "weights.\(unknown)", message: "unknown weight '\(unknown)' (known: \(fields.joined(separator: ", ")))")
            }
            func weight(_ name: String) throws(InvalidParams) -> Double? {
                guard inner.has(name) else { return nil }
                do { return try inner.number(name, default: 0, in: 0...10) } catch {
                    throw InvalidParams(field: "weights.\(name)", message: "weights.\(error.message)")
                }
            }
            let weights = Weights(
                collaborative: try weight("collaborative"), text: try weight("text"), facet: try weight("facet"),
                languageModel: try weight("languageModel"))
            let given = [weights.collaborative, weights.text, weights.facet, weights.languageModel]
            if given.allSatisfy({ $0 == 0 }) {
                throw InvalidParams(field: "weights", message: "weights must not all be 0: such a blend ranks nothing")
            }
            return weights
        }
    }

    public struct Params: Sendable {
        public var sessionId: String
        public var text: String
        public var k: Int
        /// Whether the LM writes an answer.
        public var answer: Bool
        /// Whether the answer streams as notifications.
        public var stream: Bool
        public var maxAnswerTokens: Int
        public var excludeSeen: Bool
        public var weights: Weights

        public init(_ params: JSONValue?, maxK: Int) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            sessionId = try SessionIdentifier.read(reader)
            text = try reader.string("text", length: 1...4000)
            guard text.contains(where: { !$0.isWhitespace }) else {
                throw InvalidParams(field: "text", message: "text must hold more than white space")
            }
            k = try reader.int("k", default: 5, in: 1...maxK)
            answer = try reader.bool("answer", default: true)
            stream = try reader.bool("stream", default: true)
            maxAnswerTokens = try reader.int("maxAnswerTokens", default: 80, in: 1...512)
            excludeSeen = try reader.bool("excludeSeen", default: true)
            weights = try Weights.read(reader)
        }
    }

    /// What was understood from the message (wire form of the interpreter's output).
    public struct Understood: Sendable, Equatable {
        public var preferences: [String]
        public var exclusions: [String]
        public var wantedFacets: [String]
        public var excludedFacets: [String]
        public var reference: String?

        public init(preferences: [String], exclusions: [String], wantedFacets: [String], excludedFacets: [String], reference: String?) {
            self.preferences = preferences
            self.exclusions = exclusions
            self.wantedFacets = wantedFacets
            self.excludedFacets = excludedFacets
            self.reference = reference
        }

        public var json: JSONValue {
            [
                "preferences": .array(preferences.map { .string($0) }), "exclusions": .array(exclusions.map { .string($0) }),
                "wantedFacets": .array(wantedFacets.map { .string($0) }),
                "excludedFacets": .array(excludedFacets.map { .string($0) }), "reference": reference.map { .string($0) } ?? .null,
            ]
        }
    }

    /// One ranked item with its score broken down (z-scores; null where a signal did not score it).
    public struct RankedItem: Sendable {
        public var itemId: Int32
        public var title: String
        public var score: Float
        public var collaborative: Float?
        public var text: Float?
        public var languageModel: Float?
        public var matchedFacets: [String]
        /// True for an item added at run time (`catalog/add`).
        public var added: Bool

        public init(
            itemId: Int32, title: String, score: Float, collaborative: Float?, text: Float?, languageModel: Float?,
            matchedFacets: [String], added: Bool
        ) {
            self.itemId = itemId
            self.title = title
            self.score = score
            self.collaborative = collaborative
            self.text = text
            self.languageModel = languageModel
            self.matchedFacets = matchedFacets
            self.added = added
        }

        public var json: JSONValue {
            func component(_ value: Float?) -> JSONValue { value.map { .number(Double(shortest: $0)) } ?? .null }
            return [
                "itemId": .integer(itemId), "title": .string(title), "score": .number(Double(shortest: score)),
                "scores": ["collaborative": component(collaborative), "text": component(text), "languageModel": component(languageModel)],
                "matchedFacets": .array(matchedFacets.map { .string($0) }), "added": .bool(added),
            ]
        }
    }

    /// The LM's answer and its cost.
    public struct Answer: Sendable {
        public var text: String
        public var generatedTokens: Int
        public var promptTokens: Int
        public var reusedTokens: Int
        public var firstTokenMilliseconds: Double
        public var totalMilliseconds: Double
        public var finished: Bool

        public init(
            text: String, generatedTokens: Int, promptTokens: Int, reusedTokens: Int, firstTokenMilliseconds: Double,
            totalMilliseconds: Double, finished: Bool
        ) {
            self.text = text
            self.generatedTokens = generatedTokens
            self.promptTokens = promptTokens
            self.reusedTokens = reusedTokens
            self.firstTokenMilliseconds = firstTokenMilliseconds
            self.totalMilliseconds = totalMilliseconds
            self.finished = finished
        }

        public var json: JSONValue {
            [
                "text": .string(text), "generatedTokens": .integer(generatedTokens), "promptTokens": .integer(promptTokens),
                "reusedTokens": .integer(reusedTokens), "firstTokenMs": .number(Self.rounded(firstTokenMilliseconds)),
                "totalMs": .number(Self.rounded(totalMilliseconds)), "finished": .bool(finished),
            ]
        }

        static func rounded(_ value: Double) -> Double { (value * 10).rounded() / 10 }
    }

    public static func result(
        sessionId: String, understood: Understood, items: [RankedItem], answer: Answer?, excludedByStatement: Int,
        languageModelRanked: Int, languageModelReusedTokens: Int, retrievalMilliseconds: Double, languageModelMilliseconds: Double
    ) -> JSONValue {
        [
            "sessionId": .string(sessionId), "understood": understood.json, "items": .array(items.map(\.json)),
            "answer": answer?.json ?? .null, "excludedByStatement": .integer(excludedByStatement),
            "languageModelRanked": .integer(languageModelRanked), "languageModelReusedTokens": .integer(languageModelReusedTokens),
            "timing": [
                "retrievalMs": .number(Answer.rounded(retrievalMilliseconds)),
                "languageModelRankingMs": .number(Answer.rounded(languageModelMilliseconds)),
            ],
        ]
    }

    /// Params of one `session/answerDelta` notification: the request it belongs to, the piece's
    /// index (0, 1, ...) and its text.
    public static func deltaParams(requestId: RequestID, sessionId: String, index: Int, text: String) -> JSONValue {
        ["requestId": requestId.json, "sessionId": .string(sessionId), "index": .integer(index), "text": .string(text)]
    }
}

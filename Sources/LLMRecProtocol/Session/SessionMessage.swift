import JSON
import JSONRPC

/// `session/message`: the user's words in a session. The reply has ranked items with their
/// scores broken down, the LM's answer and what the daemon understood; the answer streams as
/// `session/answerDelta` notifications before the reply.
public enum SessionMessage {
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

        private var values: [Double?] { [collaborative, text, facet, languageModel] }

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
            if weights.values.allSatisfy({ $0 == 0 }) {
                throw InvalidParams(field: "weights", message: "weights must not all be 0: such a blend ranks nothing")
            }
            return weights
        }

        /// The `weights` member as sent; nil when no weight is set.
        var json: JSONValue? {
            var writer = ParamsWriter()
            for (name, value) in zip(Self.fields, values) { writer.set(name, value.map { JSONValue.number($0) }) }
            return writer.object.isEmpty ? nil : .object(writer.object)
        }
    }

    public struct Request: LLMRecRequest, Equatable {
        public static let method = "session/message"
        public typealias Response = SessionMessage.Response

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

        public init(
            sessionId: String, text: String, k: Int = 5, answer: Bool = true, stream: Bool = true, maxAnswerTokens: Int = 80,
            excludeSeen: Bool = true, weights: Weights = Weights()
        ) {
            self.sessionId = sessionId
            self.text = text
            self.k = k
            self.answer = answer
            self.stream = stream
            self.maxAnswerTokens = maxAnswerTokens
            self.excludeSeen = excludeSeen
            self.weights = weights
        }

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            sessionId = try SessionIdentifier.read(reader)
            text = try reader.string("text", length: 1...4000)
            guard text.contains(where: { !$0.isWhitespace }) else {
                throw InvalidParams(field: "text", message: "text must hold more than white space")
            }
            k = try reader.int("k", default: 5, in: 1...limits.maxK)
            answer = try reader.bool("answer", default: true)
            stream = try reader.bool("stream", default: true)
            maxAnswerTokens = try reader.int("maxAnswerTokens", default: 80, in: 1...512)
            excludeSeen = try reader.bool("excludeSeen", default: true)
            weights = try Weights.read(reader)
        }

        public var params: JSONValue? {
            var writer = ParamsWriter()
            writer.set("sessionId", sessionId)
            writer.set("text", text)
            writer.set("k", k)
            writer.set("answer", answer)
            writer.set("stream", stream)
            writer.set("maxAnswerTokens", maxAnswerTokens)
            writer.set("excludeSeen", excludeSeen)
            writer.set("weights", weights.json)
            return writer.params
        }
    }

    /// What was understood from the message (wire form of the interpreter's output).
    public struct Understood: WireCodable, Equatable {
        public var preferences: [String]
        public var exclusions: [String]
        public var wantedFacets: [String]
        public var excludedFacets: [String]
        public var reference: String?
        /// What the words did to the LM's ranking, when a retrieval model that listens read them
        /// (absent from the JSON otherwise).
        public var shift: WordShift?

        public init(
            preferences: [String], exclusions: [String], wantedFacets: [String], excludedFacets: [String], reference: String?,
            shift: WordShift? = nil
        ) {
            self.preferences = preferences
            self.exclusions = exclusions
            self.wantedFacets = wantedFacets
            self.excludedFacets = excludedFacets
            self.reference = reference
            self.shift = shift
        }

        public var json: JSONValue {
            var object: JSONObject = [
                "preferences": preferences.json, "exclusions": exclusions.json, "wantedFacets": wantedFacets.json,
                "excludedFacets": excludedFacets.json, "reference": reference.map { .string($0) } ?? .null,
            ]
            if let shift { object["shift"] = shift.json }
            return .object(object)
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            preferences = try reader.strings("preferences")
            exclusions = try reader.strings("exclusions")
            wantedFacets = try reader.strings("wantedFacets")
            excludedFacets = try reader.strings("excludedFacets")
            reference = try reader.optionalString("reference")
            shift = try reader.optionalDecode("shift")
        }
    }

    /// The items of the catalog whose LM score the user's words raised most and lowered most
    /// (at most three each, largest change first), against the same prompt without the words.
    public struct WordShift: WireCodable, Equatable {
        public var lifted: [Entry]
        public var lowered: [Entry]

        /// One item the words moved.
        public struct Entry: WireCodable, Equatable {
            public var itemId: Int32
            public var title: String

            public init(itemId: Int32, title: String) {
                self.itemId = itemId
                self.title = title
            }

            public var json: JSONValue { ["itemId": .integer(Int(itemId)), "title": .string(title)] }

            public init(json: JSONValue) throws(WireDecodingError) {
                let reader = try WireReader(json)
                itemId = try reader.int32("itemId")
                title = try reader.string("title")
            }
        }

        public init(lifted: [Entry], lowered: [Entry]) {
            self.lifted = lifted
            self.lowered = lowered
        }

        public var json: JSONValue { ["lifted": .array(lifted.map(\.json)), "lowered": .array(lowered.map(\.json))] }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            lifted = try reader.array("lifted", of: Entry.self)
            lowered = try reader.array("lowered", of: Entry.self)
        }
    }

    /// One ranked item. From the blended engine it carries its score broken down (`detail`);
    /// from the collaborative model alone (a plain `session/recommend`) only its score.
    public struct RankedItem: WireCodable, Equatable {
        public var itemId: Int32
        public var title: String
        public var score: Float
        public var detail: Detail?

        /// The score's parts (z-scores; nil where a signal did not score the item) and why it
        /// was picked.
        public struct Detail: Sendable, Equatable {
            public var collaborative: Float?
            public var text: Float?
            public var languageModel: Float?
            public var matchedFacets: [String]
            /// True for an item added at run time (`catalog/add`).
            public var added: Bool

            public init(collaborative: Float?, text: Float?, languageModel: Float?, matchedFacets: [String], added: Bool) {
                self.collaborative = collaborative
                self.text = text
                self.languageModel = languageModel
                self.matchedFacets = matchedFacets
                self.added = added
            }
        }

        public init(itemId: Int32, title: String, score: Float, detail: Detail? = nil) {
            self.itemId = itemId
            self.title = title
            self.score = score
            self.detail = detail
        }

        public var json: JSONValue {
            guard let detail else { return ["itemId": .integer(itemId), "score": .number(shortest: score), "title": .string(title)] }
            func component(_ value: Float?) -> JSONValue { value.map { .number(shortest: $0) } ?? .null }
            return [
                "itemId": .integer(itemId), "title": .string(title), "score": .number(shortest: score),
                "scores": [
                    "collaborative": component(detail.collaborative), "text": component(detail.text),
                    "languageModel": component(detail.languageModel),
                ],
                "matchedFacets": detail.matchedFacets.json, "added": .bool(detail.added),
            ]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            itemId = try reader.int32("itemId")
            title = try reader.string("title")
            score = try reader.float("score")
            guard reader.has("scores") else { return }
            let scores = try reader.reader("scores")
            detail = Detail(
                collaborative: try scores.optionalFloat("collaborative"), text: try scores.optionalFloat("text"),
                languageModel: try scores.optionalFloat("languageModel"), matchedFacets: try reader.strings("matchedFacets"),
                added: try reader.bool("added"))
        }
    }

    /// The LM's answer and its cost.
    public struct Answer: WireCodable, Equatable {
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
            self.firstTokenMilliseconds = Self.rounded(firstTokenMilliseconds)
            self.totalMilliseconds = Self.rounded(totalMilliseconds)
            self.finished = finished
        }

        public var json: JSONValue {
            [
                "text": .string(text), "generatedTokens": .integer(generatedTokens), "promptTokens": .integer(promptTokens),
                "reusedTokens": .integer(reusedTokens), "firstTokenMs": .number(firstTokenMilliseconds),
                "totalMs": .number(totalMilliseconds), "finished": .bool(finished),
            ]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            text = try reader.string("text")
            generatedTokens = try reader.int("generatedTokens")
            promptTokens = try reader.int("promptTokens")
            reusedTokens = try reader.int("reusedTokens")
            firstTokenMilliseconds = try reader.double("firstTokenMs")
            totalMilliseconds = try reader.double("totalMs")
            finished = try reader.bool("finished")
        }

        /// Milliseconds to one decimal, as the wire carries them.
        static func rounded(_ value: Double) -> Double { (value * 10).rounded() / 10 }
    }

    public struct Response: WireCodable, Equatable {
        public var sessionId: String
        public var understood: Understood
        public var items: [RankedItem]
        public var answer: Answer?
        /// Items the message's stated exclusions removed.
        public var excludedByStatement: Int
        public var languageModelRanked: Int
        public var languageModelReusedTokens: Int
        /// Milliseconds, to one decimal.
        public var retrievalMilliseconds: Double
        public var languageModelMilliseconds: Double

        public init(
            sessionId: String, understood: Understood, items: [RankedItem], answer: Answer?, excludedByStatement: Int,
            languageModelRanked: Int, languageModelReusedTokens: Int, retrievalMilliseconds: Double,
            languageModelMilliseconds: Double
        ) {
            self.sessionId = sessionId
            self.understood = understood
            self.items = items
            self.answer = answer
            self.excludedByStatement = excludedByStatement
            self.languageModelRanked = languageModelRanked
            self.languageModelReusedTokens = languageModelReusedTokens
            self.retrievalMilliseconds = Answer.rounded(retrievalMilliseconds)
            self.languageModelMilliseconds = Answer.rounded(languageModelMilliseconds)
        }

        public var json: JSONValue {
            [
                "sessionId": .string(sessionId), "understood": understood.json, "items": .array(items.map(\.json)),
                "answer": answer?.json ?? .null, "excludedByStatement": .integer(excludedByStatement),
                "languageModelRanked": .integer(languageModelRanked), "languageModelReusedTokens": .integer(languageModelReusedTokens),
                "timing": ["retrievalMs": .number(retrievalMilliseconds), "languageModelRankingMs": .number(languageModelMilliseconds)],
            ]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            sessionId = try reader.string("sessionId")
            understood = try reader.decode("understood")
            items = try reader.array("items", of: RankedItem.self)
            answer = try reader.optionalDecode("answer")
            excludedByStatement = try reader.int("excludedByStatement")
            languageModelRanked = try reader.int("languageModelRanked")
            languageModelReusedTokens = try reader.int("languageModelReusedTokens")
            let timing = try reader.reader("timing")
            retrievalMilliseconds = try timing.double("retrievalMs")
            languageModelMilliseconds = try timing.double("languageModelRankingMs")
        }
    }

    /// `session/answerDelta` (server notification): the next piece of a streamed answer.
    public struct AnswerDelta: WireCodable, Equatable {
        public static let method = "session/answerDelta"

        /// The `session/message` request the piece belongs to.
        public var requestId: RequestID
        public var sessionId: String
        /// The piece's index: 0, 1, ...
        public var index: Int
        public var text: String

        public init(requestId: RequestID, sessionId: String, index: Int, text: String) {
            self.requestId = requestId
            self.sessionId = sessionId
            self.index = index
            self.text = text
        }

        public var json: JSONValue {
            ["requestId": requestId.json, "sessionId": .string(sessionId), "index": .integer(index), "text": .string(text)]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            guard let id = reader.value("requestId").flatMap(RequestID.init(json:)) else {
                throw WireDecodingError(path: "requestId", message: "expected an integer or a string")
            }
            requestId = id
            sessionId = try reader.string("sessionId")
            index = try reader.int("index")
            text = try reader.string("text")
        }
    }
}

import JSON
import JSONRPC
import LLMRecProtocol
import Testing

/// Every method's request and response read back what they wrote.
@Suite struct RoundTripTests {
    static let understood = SessionMessage.Understood(
        preferences: ["funny"], exclusions: ["horror"], wantedFacets: ["Comedy"], excludedFacets: ["Horror"], reference: "last",
        shift: .init(lifted: [.init(itemId: 1, title: "Toy Story (1995)"), .init(itemId: 94, title: "Home Alone (1990)")], lowered: []))
    static let answer = SessionMessage.Answer(
        text: "How about Toy Story (1995)?", generatedTokens: 12, promptTokens: 140, reusedTokens: 96,
        firstTokenMilliseconds: 210.44, totalMilliseconds: 612.06, finished: true)
    static let blendedItem = SessionMessage.RankedItem(
        itemId: 1, title: "Toy Story (1995)", score: 1.25,
        detail: .init(collaborative: 0.5, text: nil, languageModel: -0.75, matchedFacets: ["Animation"], added: false))
    static let entry = CatalogEntry(
        itemId: 7, originalId: "7", title: "Twelve Monkeys (1995)", description: "", metadata: ["class": ["Sci-Fi"]])
    static let part = ModelStatus.Part(name: "llama", path: "/models/lm.gguf", detail: ["layers": 30, "chat": true])

    /// A request of each type with its fields away from their defaults where the wire allows it.
    static let requests: [any LLMRecRequest] = [
        Initialize.Request(clientName: "tests"), Initialize.Request(clientName: nil), Lifecycle.Shutdown(),
        ServerStatus.Request(), CatalogGet.Request(itemIds: [3, 1]), CatalogSearch.Request(query: "heat", limit: 3),
        SessionOpen.Request(history: [5, 6], sessionId: "s-1"), SessionOpen.Request(),
        SessionObserve.Request(sessionId: "s-1", events: [.init(itemId: 3, kind: .bought), .init(itemId: 4, kind: .rejected)]),
        SessionRecommend.Request(sessionId: "s-1"),
        SessionRecommend.Request(
            sessionId: "s-1", k: 3, candidates: [1, 2, 3], exclude: [4], excludeSeen: false, workDoneToken: "t", query: "funny",
            explain: true, weights: .init(collaborative: 1, languageModel: 0.5)),
        SessionGet.Request(sessionId: "s-1"), SessionClose.Request(sessionId: "s-1"),
        SessionMessage.Request(sessionId: "s-1", text: "something funny"),
        SessionMessage.Request(
            sessionId: "s-1", text: "no more horror", k: 7, answer: false, stream: false, maxAnswerTokens: 20, excludeSeen: false,
            weights: .init(text: 2, facet: 0)),
        CatalogAdd.Request(items: [.init(title: "New", description: "d", metadata: ["class": ["Drama"]], originalId: "x-1"), .init(title: "Bare")]),
        ModelStatus.Request(), ModelLoad.Request(bundle: "/b"), ModelLoad.Request(languageModel: "/lm.gguf", encoder: "/enc"),
    ]

    @Test(arguments: 0..<requests.count)
    func requestsReadBackWhatTheyWrite(index: Int) throws {
        let request = Self.requests[index]
        #expect(try Self.readsBack(request), "\(type(of: request).method): \(request.params.map(JSONWriter.compact) ?? "no params")")
    }

    private static func readsBack<R: LLMRecRequest>(_ request: R) throws -> Bool {
        let read = try R(params: request.params, limits: ProtocolLimits())
        return (read as? any Equatable).map { isEqual($0, request) } ?? false
    }

    private static func isEqual<T: Equatable>(_ lhs: T, _ rhs: Any) -> Bool { (rhs as? T) == lhs }

    /// A response of each type, including optional parts present and absent.
    static let responses: [any WireCodable] = [
        Initialize.Response(
            serverVersion: "1.0", methods: ["initialize", "session/open"], datasetFingerprint: "abc", catalogSize: 1682,
            users: 943, recommender: "sasrec", encoder: nil, limits: ProtocolLimits()),
        NullResponse(),
        ServerStatus.Response(
            uptimeSeconds: 12.5, connections: 2, sessions: 3, lanes: [.init(name: "model", queued: 1, running: 1, capacity: 64)],
            served: 10, failed: 1, cancelled: 0, latencyMilliseconds: .init(p50: 1.5, p90: 3, p99: 9.25, max: 40),
            residentMemoryBytes: 1 << 30, processId: 4242, connectionsAccepted: 5),
        CatalogGet.Response(items: [entry]),
        CatalogSearch.Response(items: [.init(item: entry, score: 0.875)]),
        SessionOpen.Response(sessionId: "s-1", historyLength: 2),
        SessionObserve.Response(sessionId: "s-1", historyLength: 3, rejectedCount: 1),
        SessionRecommend.Response(
            sessionId: "s-1", recommender: "cooccurrence", items: [.init(itemId: 3, title: "Four Rooms (1995)", score: 0.1)]),
        SessionRecommend.Response(
            sessionId: "s-1", recommender: "sasrec", items: [blendedItem], languageModelRanked: 20, explanation: answer),
        SessionGet.Response(
            sessionId: "s-1", history: [1, 2], events: [.init(itemId: 1, kind: .viewed), .init(itemId: 9, kind: .rejected)],
            rejected: [9], createdAt: 1_700_000_000.25, updatedAt: 1_700_000_100.5),
        SessionClose.Response(sessionId: "s-1"),
        SessionMessage.Response(
            sessionId: "s-1", understood: understood, items: [blendedItem], answer: answer, excludedByStatement: 2,
            languageModelRanked: 20, languageModelReusedTokens: 64, retrievalMilliseconds: 35.26, languageModelMilliseconds: 0),
        SessionMessage.Response(
            sessionId: "s-1", understood: .init(preferences: [], exclusions: [], wantedFacets: [], excludedFacets: [], reference: nil),
            items: [], answer: nil, excludedByStatement: 0, languageModelRanked: 0, languageModelReusedTokens: 0,
            retrievalMilliseconds: 1, languageModelMilliseconds: 2),
        SessionMessage.AnswerDelta(requestId: .string("r-1"), sessionId: "s-1", index: 2, text: " Toy"),
        CatalogAdd.Response(items: [entry], catalogSize: 1683),
        ModelStatus.Response(
            recommender: .init(name: "sasrec", path: nil), encoder: nil, languageModel: part, bundle: nil,
            capabilities: ["collaborative", "answers"], catalogSize: 1682, addedItems: 0, modelBytes: 123_456, chatCacheSessions: 1,
            chatCacheBytes: 2048, residentMemoryBytes: nil,
            loading: .init(bundle: "/b", languageModel: nil, seconds: 1.25), loadSeconds: 3.14159, generation: 2),
    ]

    @Test(arguments: 0..<responses.count)
    func responsesReadBackWhatTheyWrite(index: Int) throws {
        let response = Self.responses[index]
        let read = try type(of: response).init(json: response.json)
        #expect(read.json == response.json)
        #expect((read as? any Equatable).map { Self.isEqual($0, response) } == true, "\(type(of: response))")
    }

    @Test func aResponseOfTheWrongShapeNamesThePath() {
        var json = Self.responses[11].json.objectValue!
        json["items"] = [["itemId": 1, "title": "x", "score": 1, "scores": ["collaborative": "high"], "matchedFacets": [], "added": false]]
        #expect(throws: WireDecodingError(path: "items[0].scores.collaborative", message: "unexpected string \"high\"")) {
            try SessionMessage.Response(json: .object(json))
        }
        #expect(throws: WireDecodingError(path: "sessionId", message: "missing")) { try SessionOpen.Response(json: ["historyLength": 1]) }
        #expect(throws: WireDecodingError(path: "events[0].kind", message: "expected one of viewed, bought, rejected")) {
            try SessionGet.Response(json: [
                "sessionId": "s", "history": [], "events": [["itemId": 1, "kind": "liked"]], "rejected": [], "createdAt": 0,
                "updatedAt": 0,
            ])
        }
    }
}

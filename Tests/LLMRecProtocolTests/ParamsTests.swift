import JSON
import JSONRPC
import LLMRecProtocol
import Testing

@Suite struct ParamsTests {
    @Test func recommendDefaultsAndRanges() throws {
        let params = try SessionRecommend.Request(params: ["sessionId": "s-1"], limits: .with(maxK: 100, maxCandidates: 50))
        #expect(params.k == 10)
        #expect(params.excludeSeen)
        #expect(params.candidates == nil)
        #expect(params.exclude.isEmpty)
        #expect(params.workDoneToken == nil)
        let custom = try SessionRecommend.Request(
            params: ["sessionId": "s-1", "k": 5, "candidates": [3, 1], "exclude": [], "excludeSeen": false, "workDoneToken": 7, "extra": true],
            limits: .with(maxK: 100, maxCandidates: 50))
        #expect(custom.k == 5)
        #expect(custom.candidates == [3, 1])
        #expect(!custom.excludeSeen)
        #expect(custom.workDoneToken == 7)
        #expect(try SessionRecommend.Request(params: ["sessionId": "s", "k": nil], limits: .with(maxK: 100, maxCandidates: 5)).k == 10, "null is absent")
    }

    static let invalidRecommendCases: [(params: JSONValue, field: String, message: String)] = [
        (params: ["k": 5], field: "sessionId", message: "missing required parameter 'sessionId'"),
        (params: ["sessionId": 5], field: "sessionId", message: "sessionId must be a string, got integer"),
        (params: ["sessionId": "s", "k": 101], field: "k", message: "k must be in 1...100, got 101"),
        (params: ["sessionId": "s", "k": 2.5], field: "k", message: "k must be an integer, got number"),
        (params: ["sessionId": "s", "candidates": []], field: "candidates", message: "candidates must hold 1...50 ids, got 0"),
        (
            params: ["sessionId": "s", "candidates": [1, 0]], field: "candidates[1]",
            message: "candidates[1] must be a positive integer item id, got 0"
        ),
        (params: ["sessionId": "s", "excludeSeen": "yes"], field: "excludeSeen", message: "excludeSeen must be a boolean, got string"),
        (
            params: ["sessionId": "s", "workDoneToken": [1]], field: "workDoneToken",
            message: "workDoneToken must be a string or an integer, got array"
        ),
        (params: ["sessionId": ""], field: "sessionId", message: "sessionId must be 1-128 characters of A-Z a-z 0-9 . _ : -, got \"\""),
        (params: [1, 2], field: "params", message: "params must be an object, got array"),
    ]

    @Test(arguments: invalidRecommendCases)
    func invalidRecommendParamsNameTheField(testCase: (params: JSONValue, field: String, message: String)) {
        let (params, field, message) = testCase
        do {
            _ = try SessionRecommend.Request(params: params, limits: .with(maxK: 100, maxCandidates: 50))
            Issue.record("accepted \(JSONWriter.compact(params))")
        } catch {
            #expect(error.field == field)
            #expect(error.message == message)
            #expect(error.responseError.code == -32602)
            #expect(error.responseError.data == ["field": .string(field)])
        }
    }

    @Test func observeValidatesEveryEvent() throws {
        let params = try SessionObserve.Request(
            params: ["sessionId": "a", "events": [["itemId": 3, "kind": "bought"], ["itemId": 4, "kind": "rejected"]]],
            limits: .with(maxEvents: 10))
        #expect(params.events == [.init(itemId: 3, kind: .bought), .init(itemId: 4, kind: .rejected)])
        #expect(throws: InvalidParams(field: "events[1].kind", message: "events[1].kind must be one of viewed, bought, rejected")) {
            try SessionObserve.Request(params: ["sessionId": "a", "events": [["itemId": 3, "kind": "bought"], ["itemId": 4]]], limits: .with(maxEvents: 10))
        }
        #expect(throws: InvalidParams(field: "events", message: "events must hold 1...10 entries, got 0")) {
            try SessionObserve.Request(params: ["sessionId": "a", "events": []], limits: .with(maxEvents: 10))
        }
    }

    @Test func itemIdsAreJSONIntegersAndTheOnesNoCatalogHoldsAreUnknown() throws {
        for number in [JSONValue.double(1.0), .double(100), .int(0), .int(-3), .string("1")] {
            #expect(throws: InvalidParams.self) {
                try SessionObserve.Request(params: ["sessionId": "a", "events": [["itemId": number, "kind": "viewed"]]], limits: .with(maxEvents: 10))
            }
            #expect(throws: InvalidParams.self) { try CatalogGet.Request(params: ["itemIds": [number]], limits: .init()) }
        }
        do {
            _ = try CatalogGet.Request(params: ["itemIds": [1, .int(2_147_483_648), .int(Int64.max)]], limits: .init())
            Issue.record("ids beyond Int32 were accepted")
        } catch {
            #expect(error.unknownItemIds == [2_147_483_648, Int64.max])
            #expect(error.responseError.code == -32011)
        }
        #expect(try CatalogGet.Request(params: ["itemIds": [.int(Int64(Int32.max))]], limits: .init()).itemIds == [Int32.max])
    }

    @Test func searchAndCatalogBounds() throws {
        #expect(try CatalogSearch.Request(params: ["query": "heat"], limits: .init()).limit == 10)
        #expect(throws: InvalidParams.self) { try CatalogSearch.Request(params: ["query": ""], limits: .init()) }
        #expect(throws: InvalidParams.self) { try CatalogSearch.Request(params: ["query": "x", "limit": 101], limits: .init()) }
        #expect(throws: InvalidParams.self) { try CatalogGet.Request(params: ["itemIds": .array(Array(repeating: 1, count: 1001))], limits: .init()) }
    }
}

extension ProtocolLimits {
    /// The default limits with some of them set.
    static func with(maxK: Int = 100, maxCandidates: Int = 10_000, maxEvents: Int = 1_000) -> ProtocolLimits {
        var limits = ProtocolLimits()
        limits.maxK = maxK
        limits.maxCandidates = maxCandidates
        limits.maxEventsPerObserve = maxEvents
        return limits
    }
}

import JSON
import JSONRPC

/// A request of LLMRec's protocol: read by the daemon from its `params` under the limits it
/// announced, written by clients with `params`. Reading what `params` wrote gives an equal request
/// (as long as it is within the limits).
public protocol LLMRecRequest: RequestType {
    /// Reads the request's `params`; errors name the field.
    init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams)
    /// The client's `workDoneToken`, for requests that report progress (`$/progress`).
    var progressToken: JSONValue? { get }
}

extension LLMRecRequest {
    public var progressToken: JSONValue? { nil }
}

/// The limits a daemon announces in `initialize` and applies to every request
/// (Protocol/spec.md, "Scheduling and limits").
public struct ProtocolLimits: WireCodable, Equatable {
    public var maxMessageBytes = 4 << 20
    public var maxBatchSize = 100
    public var maxQueuedPerLane = 64
    public var maxPendingWriteBytes = 8 << 20
    public var maxSessions = 10_000
    public var sessionTimeToLiveSeconds = 86_400.0
    public var maxK = 100
    public var maxHistory = 10_000
    public var maxCandidates = 10_000
    public var maxEventsPerObserve = 1_000

    public init() {}

    public var json: JSONValue {
        [
            "maxMessageBytes": .integer(maxMessageBytes), "maxBatchSize": .integer(maxBatchSize),
            "maxQueuedPerLane": .integer(maxQueuedPerLane), "maxPendingWrites": .integer(maxPendingWriteBytes),
            "maxSessions": .integer(maxSessions), "sessionTtlSeconds": .number(sessionTimeToLiveSeconds),
            "maxK": .integer(maxK), "maxHistory": .integer(maxHistory), "maxCandidates": .integer(maxCandidates),
            "maxEventsPerObserve": .integer(maxEventsPerObserve),
        ]
    }

    public init(json: JSONValue) throws(WireDecodingError) {
        let reader = try WireReader(json)
        maxMessageBytes = try reader.int("maxMessageBytes")
        maxBatchSize = try reader.int("maxBatchSize")
        maxQueuedPerLane = try reader.int("maxQueuedPerLane")
        maxPendingWriteBytes = try reader.int("maxPendingWrites")
        maxSessions = try reader.int("maxSessions")
        sessionTimeToLiveSeconds = try reader.double("sessionTtlSeconds")
        maxK = try reader.int("maxK")
        maxHistory = try reader.int("maxHistory")
        maxCandidates = try reader.int("maxCandidates")
        maxEventsPerObserve = try reader.int("maxEventsPerObserve")
    }
}

/// Writes a request's params: members in the order given, absent ones left out.
struct ParamsWriter {
    private(set) var object = JSONObject()

    mutating func set(_ key: String, _ value: JSONValue?) {
        if let value { object[key] = value }
    }

    mutating func set(_ key: String, _ value: String?) { set(key, value.map { JSONValue.string($0) }) }

    mutating func set(_ key: String, _ value: Int?) { set(key, value.map { JSONValue.integer($0) }) }

    mutating func set(_ key: String, _ value: Bool?) { set(key, value.map { JSONValue.bool($0) }) }

    mutating func set(_ key: String, itemIds: [Int32]?) { set(key, itemIds.map(\.json)) }

    var params: JSONValue? { .object(object) }
}

extension Array where Element == String {
    /// The strings as a JSON array.
    var json: JSONValue { .array(map { .string($0) }) }
}

extension Array where Element == Int32 {
    /// The item ids as a JSON array.
    var json: JSONValue { .array(map { .integer($0) }) }
}

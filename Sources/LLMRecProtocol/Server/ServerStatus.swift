import JSON
import JSONRPC

/// `server/status`: health and load.
public enum ServerStatus {
    public struct Request: LLMRecRequest, Equatable {
        public static let method = "server/status"
        public typealias Response = ServerStatus.Response

        public init() {}

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {}

        public var params: JSONValue? { nil }
    }

    public struct Lane: WireCodable, Equatable {
        public var name: String
        public var queued: Int
        public var running: Int
        public var capacity: Int

        public init(name: String, queued: Int, running: Int, capacity: Int) {
            self.name = name
            self.queued = queued
            self.running = running
            self.capacity = capacity
        }

        public var json: JSONValue {
            ["name": .string(name), "queued": .integer(queued), "running": .integer(running), "capacity": .integer(capacity)]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            name = try reader.string("name")
            queued = try reader.int("queued")
            running = try reader.int("running")
            capacity = try reader.int("capacity")
        }
    }

    /// Request latencies in milliseconds.
    public struct Latency: Sendable, Equatable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var max: Double

        public init(p50: Double, p90: Double, p99: Double, max: Double) {
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.max = max
        }
    }

    public struct Response: WireCodable, Equatable {
        public var uptimeSeconds: Double
        public var connections: Int
        public var sessions: Int
        public var lanes: [Lane]
        public var served: Int
        public var failed: Int
        public var cancelled: Int
        public var latencyMilliseconds: Latency
        public var residentMemoryBytes: Int
        /// The daemon's process id (`llmrec stop` signals it).
        public var processId: Int
        /// Connections accepted since start (`connections` is those open now).
        public var connectionsAccepted: Int

        public init(
            uptimeSeconds: Double, connections: Int, sessions: Int, lanes: [Lane], served: Int, failed: Int, cancelled: Int,
            latencyMilliseconds: Latency, residentMemoryBytes: Int, processId: Int, connectionsAccepted: Int
        ) {
            self.uptimeSeconds = uptimeSeconds
            self.connections = connections
            self.sessions = sessions
            self.lanes = lanes
            self.served = served
            self.failed = failed
            self.cancelled = cancelled
            self.latencyMilliseconds = latencyMilliseconds
            self.residentMemoryBytes = residentMemoryBytes
            self.processId = processId
            self.connectionsAccepted = connectionsAccepted
        }

        public var json: JSONValue {
            [
                "uptimeSeconds": .number(uptimeSeconds), "connections": .integer(connections), "sessions": .integer(sessions),
                "lanes": .array(lanes.map(\.json)),
                "requests": ["served": .integer(served), "failed": .integer(failed), "cancelled": .integer(cancelled)],
                "latencyMs": [
                    "p50": .number(latencyMilliseconds.p50), "p90": .number(latencyMilliseconds.p90),
                    "p99": .number(latencyMilliseconds.p99), "max": .number(latencyMilliseconds.max),
                ],
                "residentMemoryBytes": .integer(residentMemoryBytes), "processId": .integer(processId),
                "connectionsAccepted": .integer(connectionsAccepted),
            ]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            uptimeSeconds = try reader.double("uptimeSeconds")
            connections = try reader.int("connections")
            sessions = try reader.int("sessions")
            lanes = try reader.array("lanes", of: Lane.self)
            let requests = try reader.reader("requests")
            served = try requests.int("served")
            failed = try requests.int("failed")
            cancelled = try requests.int("cancelled")
            let latency = try reader.reader("latencyMs")
            latencyMilliseconds = Latency(
                p50: try latency.double("p50"), p90: try latency.double("p90"), p99: try latency.double("p99"),
                max: try latency.double("max"))
            residentMemoryBytes = try reader.int("residentMemoryBytes")
            processId = try reader.int("processId")
            connectionsAccepted = try reader.int("connectionsAccepted")
        }
    }
}

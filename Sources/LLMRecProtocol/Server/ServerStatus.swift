import JSON

/// `server/status`: health and load.
public enum ServerStatus {
    public static let method = "server/status"

    public struct Lane: Sendable {
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
    }

    public struct Result: Sendable {
        public var uptimeSeconds: Double
        public var connections: Int
        public var sessions: Int
        public var lanes: [Lane]
        public var served: Int
        public var failed: Int
        public var cancelled: Int
        /// p50, p90, p99, max, in milliseconds.
        public var latencyMilliseconds: (p50: Double, p90: Double, p99: Double, max: Double)
        public var residentMemoryBytes: Int
        /// The daemon's process id (`llmrec stop` signals it).
        public var processId: Int
        /// Connections accepted since start (`connections` is those open now).
        public var connectionsAccepted: Int

        public init(
            uptimeSeconds: Double, connections: Int, sessions: Int, lanes: [Lane], served: Int, failed: Int, cancelled: Int,
            latencyMilliseconds: (p50: Double, p90: Double, p99: Double, max: Double), residentMemoryBytes: Int, processId: Int,
            connectionsAccepted: Int
        ) {
            self.processId = processId
            self.connectionsAccepted = connectionsAccepted
            self.uptimeSeconds = uptimeSeconds
            self.connections = connections
            self.sessions = sessions
            self.lanes = lanes
            self.served = served
            self.failed = failed
            self.cancelled = cancelled
            self.latencyMilliseconds = latencyMilliseconds
            self.residentMemoryBytes = residentMemoryBytes
        }

        public var json: JSONValue {
            [
                "uptimeSeconds": .number(uptimeSeconds), "connections": .integer(connections), "sessions": .integer(sessions),
                "lanes": .array(lanes.map {
                    ["name": .string($0.name), "queued": .integer($0.queued), "running": .integer($0.running), "capacity": .integer($0.capacity)]
                }),
                "requests": ["served": .integer(served), "failed": .integer(failed), "cancelled": .integer(cancelled)],
                "latencyMs": [
                    "p50": .number(latencyMilliseconds.p50), "p90": .number(latencyMilliseconds.p90),
                    "p99": .number(latencyMilliseconds.p99), "max": .number(latencyMilliseconds.max),
                ],
                "residentMemoryBytes": .integer(residentMemoryBytes), "processId": .integer(processId),
                "connectionsAccepted": .integer(connectionsAccepted),
            ]
        }
    }
}

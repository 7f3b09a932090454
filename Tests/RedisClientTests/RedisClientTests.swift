import Foundation
import RedisTestSupport
import Testing

@testable import RedisClient

@Suite struct RedisEndpointTests {
    @Test func parsesTheTwoForms() throws {
        #expect(try RedisEndpoint.parse("redis://127.0.0.1:6380/2").get() == RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6380), database: 2))
        #expect(try RedisEndpoint.parse("redis://cache.internal").get() == RedisEndpoint(address: .tcp(host: "cache.internal", port: 6379)))
        #expect(try RedisEndpoint.parse("redis://[::1]:7000").get().address == .tcp(host: "::1", port: 7000))
        #expect(try RedisEndpoint.parse("unix:///run/redis.sock?db=3").get() == RedisEndpoint(address: .unix(path: "/run/redis.sock"), database: 3))
        let withPassword = try RedisEndpoint.parse("redis://:s3cret@host:1/0").get()
        #expect(withPassword.password == "s3cret")
        #expect(!withPassword.description.contains("s3cret"), "the password is never printed")
    }

    @Test func refusesWhatIsNotARedisURL() {
        for url in ["http://host", "redis://host:0", "redis://host:99999", "redis://host/x", "redis://", "unix://relative.sock", "unix:///a?x=1"] {
            guard case .failure(let error) = RedisEndpoint.parse(url) else {
                Issue.record("\(url) was accepted")
                continue
            }
            #expect(error.description.hasPrefix("not a Redis URL"))
        }
        #expect(throws: Never.self) { try RedisEndpoint.parse("unix:///" + String(repeating: "a", count: 90)).get() }
        guard case .failure = RedisEndpoint.parse("unix:///" + String(repeating: "a", count: 120)) else {
            Issue.record("a socket path that would be truncated was accepted")
            return
        }
    }
}

@Suite struct RedisReplyParserTests {
    private func parse(_ text: String, split: Int? = nil) throws -> [RedisReply] {
        var parser = RedisReplyParser()
        var replies: [RedisReply] = []
        let bytes = Array(text.utf8)
        let pieces = split.map { stride(from: 0, to: bytes.count, by: $0).map { Array(bytes[$0..<min($0 + split!, bytes.count)]) } } ?? [bytes]
        for piece in pieces {
            piece.withUnsafeBytes { parser.append($0) }
            while let reply = try parser.parse() { replies.append(reply) }
        }
        return replies
    }

    @Test func readsEveryKindWholeAndByteByByte() throws {
        let wire = "+OK\r\n-ERR no\r\n:-42\r\n$5\r\nhe\r\no\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:7\r\n*-1\r\n$0\r\n\r\n"
        let expected: [RedisReply] = [
            .status("OK"), .error("ERR no"), .integer(-42), .bulk(Array("he\r\no".utf8)), .bulk(nil),
            .array([.bulk(Array("a".utf8)), .array([.integer(7)])]), .array(nil), .bulk([]),
        ]
        #expect(try parse(wire) == expected)
        #expect(try parse(wire, split: 1) == expected, "replies split anywhere are reassembled")
    }

    @Test func refusesMalformedReplies() {
        for wire in ["?x\r\n", ":12a\r\n", "$3\r\nabcd\r\n", "$-2\r\n", "+OK\rX", "*999999999999\r\n"] {
            #expect(throws: RedisError.self, "\(wire.debugDescription)") { _ = try parse(wire) }
        }
        let deep = String(repeating: "*1\r\n", count: 40) + ":1\r\n"
        #expect(throws: RedisError.self) { _ = try parse(deep) }
    }
}

@Suite(.serialized) struct RedisConnectionTests {
    @Test func talksToARealServerOverTCPAndAUnixSocket() throws {
        let server = try RedisServer()
        for endpoint in [server.endpoint, RedisEndpoint(address: .unix(path: server.socketPath), database: 1)] {
            let connection = RedisConnection(endpoint: endpoint)
            #expect(try connection.command(["SET", "k", "v\r\n\0binary"]) == .status("OK"))
            #expect(try connection.command(["GET", "k"]).text == "v\r\n\0binary")
            #expect(try connection.command(["GET", "missing"]).isNull)
            let replies = try connection.pipeline((0..<500).map { [Array("RPUSH".utf8), Array("list".utf8), Array("\($0)".utf8)] })
            #expect(replies.last == .integer(500), "500 pipelined commands, answered in order")
            #expect(try connection.command(["LRANGE", "list", "0", "2"]).elements?.compactMap(\.text) == ["0", "1", "2"])
            #expect(throws: RedisError.server("WRONGTYPE Operation against a key holding the wrong kind of value")) {
                try connection.command(["INCR", "list"])
            }
            #expect(try connection.command(["PING"]) == .status("PONG"), "an error reply leaves the connection usable")
            let large = String(repeating: "x", count: 3 << 20)
            try connection.command(["SET", "large", large])
            #expect(try connection.command(["GET", "large"]).text?.count == large.count)
        }
        let connection = RedisConnection(endpoint: server.endpoint)
        let script = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
        #expect(try connection.evaluate(script, keys: ["counter"], arguments: ["2"]) == .integer(2))
        #expect(try connection.scriptCall(script, keys: ["counter"], arguments: ["1"]).first == Array("EVALSHA".utf8))
        try RedisConnection(endpoint: server.endpoint).command(["SCRIPT", "FLUSH"])
        #expect(try connection.evaluate(script, keys: ["counter"], arguments: ["3"]) == .integer(5), "scripts flushed on the server: loaded again")
        #expect(throws: RedisError.server("ERR boom")) {
            try connection.evaluate("return redis.error_reply('ERR boom')", keys: [], arguments: [])
        }
        let other = RedisConnection(endpoint: RedisEndpoint(address: .unix(path: server.socketPath), database: 1))
        #expect(try other.command(["DBSIZE"]).integer == 3, "SELECT on connect: database 1 holds its own keys")
    }

    @Test func anUnreachableServerFailsFastAndTheConnectionRecoversWhenItReturns() throws {
        let server = try RedisServer()
        let connection = RedisConnection(endpoint: server.endpoint, timeout: 1)
        try connection.command(["SET", "k", "1"])
        server.kill()
        let started = Date()
        #expect(throws: RedisError.self) { try connection.command(["GET", "k"]) }
        #expect(throws: RedisError.self) { try connection.command(["GET", "k"]) }
        #expect(Date().timeIntervalSince(started) < 3, "a refused connection is an error at once, not a hang")
        #expect(!connection.isConnected)
        try server.start()
        #expect(try connection.command(["GET", "k"]).text == "1", "the acknowledged write survived (AOF, fsync always)")
        let silent = RedisConnection(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: server.port)), timeout: 0.3)
        try silent.command(["CLIENT", "PAUSE", "2000", "ALL"])
        let paused = Date()
        #expect(throws: RedisError.self) { try silent.command(["GET", "k"]) }
        #expect(Date().timeIntervalSince(paused) < 1.5, "a server that does not answer times out")
    }
}

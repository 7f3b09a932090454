import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
import RPCClient
import Synchronization
import Testing

/// A peer on a Unix socket that answers each request the client sends with scripted messages, and
/// keeps every message it received.
final class ScriptedPeer: Sendable {
    let path = "/tmp/llmrec-rpcclient-\(UUID().uuidString.prefix(12)).sock"
    private let listener: Int32
    private let received = Received()

    /// The messages received so far, shared with the peer's thread.
    private final class Received: Sendable {
        let messages = Mutex<[JSONValue]>([])
    }

    /// `answer` gets each request or notification and returns what to write back, in order.
    init(answer: @escaping @Sendable (JSONValue) -> [JSONValue]) throws {
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && listen(listener, 1) == 0)
        let received = self.received
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            defer { close(connection) }
            var framer = MessageFramer()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress!, $0.count) }
                guard count > 0 else { return }
                for event in buffer.withUnsafeBytes({ framer.feed(UnsafeRawBufferPointer(rebasing: $0[..<count])) }) {
                    guard case .message(let body) = event, let message = try? JSONValue.parse(body) else { return }
                    received.messages.withLock { $0.append(message) }
                    for reply in answer(message) {
                        let bytes = Array(JSONWriter.compact(reply).utf8)
                        let framed = MessageFramer.header(forBodyOf: bytes.count) + bytes
                        _ = framed.withUnsafeBytes { write(connection, $0.baseAddress!, $0.count) }
                    }
                }
            }
        }
    }

    deinit {
        close(listener)
        unlink(path)
    }

    /// What the client sent, once there are at least `count` messages (or after 10 s).
    func messages(count: Int) -> [JSONValue] {
        let deadline = Date().addingTimeInterval(10)
        while received.messages.withLock({ $0.count }) < count, Date() < deadline { usleep(5_000) }
        return received.messages.withLock { $0 }
    }
}

@Suite struct RPCClientTests {
    static let opened: JSONValue = ["sessionId": "s-9", "historyLength": 2]

    @Test func aTypedRequestIsWrittenWithItsParamsAndItsResultIsReadAsItsType() throws {
        let peer = try ScriptedPeer { message in
            guard let id = message["id"] else { return [] }
            return [["jsonrpc": "2.0", "id": id, "result": Self.opened]]
        }
        let client = try RPCClient(socketPath: peer.path)
        let response = try client.send(SessionOpen.Request(history: [4, 2], sessionId: "s-9"))
        #expect(response == SessionOpen.Response(sessionId: "s-9", historyLength: 2))
        let sent = peer.messages(count: 1)
        #expect(sent.first == ["jsonrpc": "2.0", "id": 1, "method": "session/open", "params": ["history": [4, 2], "sessionId": "s-9"]])
    }

    @Test func notificationsBeforeTheResponseReachTheCallbackInOrderAndOtherIdsAreSkipped() throws {
        let peer = try ScriptedPeer { message in
            guard let id = message["id"] else { return [] }
            let delta = { (index: Int, text: String) -> JSONValue in
                ["jsonrpc": "2.0", "method": "session/answerDelta", "params": ["requestId": id, "sessionId": "s", "index": .integer(index), "text": .string(text)]]
            }
            return [
                delta(0, "How"), ["jsonrpc": "2.0", "id": 99, "result": "not yours"], delta(1, " about"),
                ["jsonrpc": "2.0", "id": id, "result": Self.opened],
            ]
        }
        let client = try RPCClient(socketPath: peer.path)
        var pieces: [String] = []
        let response = try client.send(SessionOpen.Request()) { method, params in
            if method == SessionMessage.AnswerDelta.method, let delta = try? SessionMessage.AnswerDelta(json: params) {
                pieces.append(delta.text)
            }
        }
        #expect(pieces == ["How", " about"])
        #expect(response.sessionId == "s-9")
    }

    @Test func anErrorResponseIsThrownWithItsCodeMessageAndData() throws {
        let peer = try ScriptedPeer { message in
            guard let id = message["id"] else { return [] }
            return [["jsonrpc": "2.0", "id": id, "error": ["code": -32011, "message": "unknown item id: 7", "data": ["itemIds": [7]]]]]
        }
        let client = try RPCClient(socketPath: peer.path)
        #expect(throws: RPCClientError.self) { try client.send(CatalogGet.Request(itemIds: [7])) }
        do {
            _ = try client.send(CatalogGet.Request(itemIds: [7]))
        } catch RPCClientError.response(let error) {
            #expect(error == ResponseError(code: -32011, message: "unknown item id: 7", data: ["itemIds": [7]]))
        }
    }

    @Test func aResultOfTheWrongShapeIsAProtocolErrorThatNamesThePath() throws {
        let peer = try ScriptedPeer { message in
            guard let id = message["id"] else { return [] }
            return [["jsonrpc": "2.0", "id": id, "result": ["sessionId": "s", "historyLength": "two"]]]
        }
        let client = try RPCClient(socketPath: peer.path)
        do {
            _ = try client.send(SessionOpen.Request())
            Issue.record("a malformed result was accepted")
        } catch RPCClientError.protocolError(let reason) {
            #expect(reason.contains("session/open"))
            #expect(reason.contains("historyLength"))
        }
    }

    @Test func cancellingSendsOneCancelRequestForTheRequestsId() throws {
        let peer = try ScriptedPeer { message in
            guard message["id"] != nil else {
                // The cancellation: answer the request it names.
                guard message["method"] == "$/cancelRequest", let cancelled = message["params"]?["id"] else { return [] }
                return [["jsonrpc": "2.0", "id": cancelled, "error": ["code": -32800, "message": "request cancelled"]]]
            }
            if message["method"] == "shutdown" { return [["jsonrpc": "2.0", "id": message["id"]!, "result": nil]] }
            return [["jsonrpc": "2.0", "method": "$/progress", "params": ["token": 1, "value": ["kind": "begin"]]]]
        }
        let client = try RPCClient(socketPath: peer.path)
        var asked = 0
        do {
            _ = try client.send(SessionRecommend.Request(sessionId: "s"), shouldCancel: {
                asked += 1
                return true
            })
            Issue.record("the cancelled request returned a result")
        } catch RPCClientError.response(let error) {
            #expect(error.code == ResponseError.requestCancelledCode)
        }
        client.close()
        let cancels = peer.messages(count: 4).filter { $0["method"] == "$/cancelRequest" }
        #expect(cancels == [["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": 1]]])
        #expect(asked >= 1)
    }

    @Test func closeSendsShutdownThenExit() throws {
        let peer = try ScriptedPeer { message in
            guard let id = message["id"] else { return [] }
            return [["jsonrpc": "2.0", "id": id, "result": nil]]
        }
        let client = try RPCClient(socketPath: peer.path)
        client.close()
        let methods = peer.messages(count: 2).compactMap { $0["method"]?.stringValue }
        #expect(methods == ["shutdown", "exit"])
    }

    @Test func aSocketThatDoesNotExistCannotBeReached() {
        #expect(throws: RPCClientError.self) { try RPCClient(socketPath: "/tmp/llmrec-no-such-\(UUID().uuidString).sock") }
    }
}

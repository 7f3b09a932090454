import Foundation
import RPCTransport
import Testing

@Suite struct SocketListenerTests {
    private func scratch() -> String {
        let path = "/tmp/llmrec-sock-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func createsAnOwnerOnlySocketAndRemovesItOnClose() throws {
        let loop = try EventLoop()
        let path = scratch() + "/d.sock"
        let listener = try SocketListener(loop: loop, path: path) { _ in }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect(attributes[.type] as? FileAttributeType == .typeSocket)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        listener.close()
        loop.close()
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func refusesPathsTheKernelWouldTruncate() throws {
        let loop = try EventLoop()
        let path = "/tmp/" + String(repeating: "x", count: 103)
        #expect(throws: TransportError.socketPathTooLong(path: path, bytes: 108, limit: 107)) {
            try SocketListener(loop: loop, path: path) { _ in }
        }
        loop.close()
    }

    @Test func refusesToReplaceARegularFile() throws {
        let loop = try EventLoop()
        let path = scratch() + "/not-a-socket"
        try "precious".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: TransportError.socketPathInUse(path: path, reason: "exists and is not a socket; refusing to replace it")) {
            try SocketListener(loop: loop, path: path) { _ in }
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
        loop.close()
    }

    @Test func replacesAStaleSocketButNotALiveOne() throws {
        let loop = try EventLoop()
        let path = scratch() + "/d.sock"
        let live = try SocketListener(loop: loop, path: path) { _ in }
        // The live daemon holds PATH.lock: a second one is refused before it looks at the socket.
        #expect(throws: TransportError.socketPathInUse(path: path, reason: "another daemon holds this socket")) {
            try SocketListener(loop: loop, path: path) { _ in }
        }
        live.close()
        // A socket file left behind by a process that died: bound, never listened to.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(fd)
        let replacement = try SocketListener(loop: loop, path: path) { _ in }
        replacement.close()
        loop.close()
    }
}

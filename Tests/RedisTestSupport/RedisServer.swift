import Foundation
import RedisClient

/// A real `redis-server` (Debian's package) for one test: a temporary directory, a free local TCP
/// port and a Unix socket, the append-only file on with `appendfsync always` (every acknowledged
/// write is on disk), no RDB snapshots. It can be killed and started again on the same files.
public final class RedisServer {
    public enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)

        public var description: String {
            switch self {
            case .notInstalled: return "redis-server is not installed (scripts/setup-system.sh installs Debian's redis-server)"
            case .didNotStart(let log): return "redis-server did not start: \(log)"
            }
        }
    }

    public let directory: String
    public let port: Int
    public var socketPath: String { directory + "/redis.sock" }
    private var process: Process?

    /// `redis://127.0.0.1:PORT`
    public var url: String { "redis://127.0.0.1:\(port)" }
    public var endpoint: RedisEndpoint { RedisEndpoint(address: .tcp(host: "127.0.0.1", port: port)) }

    public static var executable: String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        for directory in directories + ["/usr/bin", "/usr/sbin"] {
            let path = directory + "/redis-server"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    public init() throws {
        guard Self.executable != nil else { throw Failure.notInstalled }
        // A short directory, so that the Unix socket path stays well under 107 bytes.
        directory = "/tmp/llmrec-redis-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        try start()
    }

    deinit {
        if let process, process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the server on this directory and port (again, after `kill`), and waits until it
    /// answers `PING` (its append-only file loaded).
    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable!)
        process.arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--unixsocket", socketPath, "--unixsocketperm", "700",
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--logfile", directory + "/redis.log",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let connection = RedisConnection(endpoint: endpoint, timeout: 0.5)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? connection.command(["PING"])) == .status("PONG") { return }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        let log = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
        throw Failure.didNotStart(String(log.suffix(2000)))
    }

    /// Sends `signal` (SIGKILL: a crash, nothing flushed beyond what was fsynced) and waits for the exit.
    public func kill(_ signal: Int32 = SIGKILL) {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    /// A port nobody listens on now (the kernel's choice for port 0).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure.didNotStart("no free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

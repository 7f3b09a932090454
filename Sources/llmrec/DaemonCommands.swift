import ArgumentParser
import Foundation
import JSON
import LLMRecProtocol
import RPCClient

/// Which shared daemon a client talks to, and how one is started: shared by `chat`, `start`,
/// `status` and `stop`.
struct DaemonClientOptions: ParsableArguments {
    @Option(help: "Socket of the daemon (default: the user's shared daemon, $XDG_RUNTIME_DIR/llmrec/llmrec.sock).")
    var socket: String?

    @Option(help: "Configuration file for a daemon started here (default $XDG_CONFIG_HOME/llmrec/config.json).")
    var config: String?

    /// The socket to use: `--socket`, the configuration file's, or the default.
    func socketPath() throws -> String {
        if let socket { return socket }
        if let configured = try DaemonSettings.load(explicitPath: config).socket { return configured }
        return DaemonEndpoint.defaultSocketPath()
    }

    /// A connection to the daemon, started on demand (detached, `llmrec serve` with the
    /// configuration file, on `--socket` when given, else as the shared daemon) when none answers;
    /// says so on stderr while it loads.
    func connectOrStart() throws -> RPCClient {
        let path = try socketPath()
        let arguments = ["serve"] + (socket.map { ["--socket", $0] } ?? []) + (config.map { ["--config", $0] } ?? [])
        return try DaemonEndpoint.connectOrStart(
            socketPath: path, executable: ChatCommand.executablePath, arguments: arguments,
            announce: { log in FileHandle.standardError.write(Data("llmrec: starting the daemon on \(path) (log: \(log))...\n".utf8)) },
            relay: { text in FileHandle.standardError.write(Data(text.utf8)) })
    }

    /// A connection to a running daemon, or nil when none answers.
    func connectIfRunning() throws -> RPCClient? {
        try? RPCClient(socketPath: try socketPath())
    }
}

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Make sure the shared daemon runs: start it (detached) when none answers; print its socket.",
        discussion: """
            Clients (the Python client, the shell client, the Neovim plugin) run this when the socket \
            does not answer. Clients starting at once make one daemon: starts take a lock. The socket's \
            path goes to stdout, the daemon's process id to stderr.
            """
    )

    @OptionGroup var daemon: DaemonClientOptions

    func run() throws {
        do {
            let client = try daemon.connectOrStart()
            _ = try client.initialize(clientName: "llmrec-start")
            let status = try client.send(ServerStatus.Request())
            _ = client.close()
            print(try daemon.socketPath())
            FileHandle.standardError.write(Data("llmrec: daemon \(status.processId) is running\n".utf8))
        } catch {
            throw fail(error)
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running daemon's models, sessions, load and memory (exit status 3 when none runs).")

    @OptionGroup var daemon: DaemonClientOptions

    @Flag(help: "Print server/status and model/status as one JSON object.")
    var json = false

    func run() throws {
        let path = try daemon.socketPath()
        guard let client = try daemon.connectIfRunning() else {
            FileHandle.standardError.write(Data("llmrec: no daemon is running on \(path)\n".utf8))
            throw ExitCode(3)
        }
        do {
            _ = try client.initialize(clientName: "llmrec-status")
            let server = try client.send(ServerStatus.Request())
            let models = try client.send(ModelStatus.Request())
            _ = client.close()
            if json {
                print(JSONWriter.compact(["socket": .string(path), "server": server.json, "models": models.json]))
                return
            }
            print(Self.describe(socket: path, server: server, models: models))
        } catch {
            throw fail(error)
        }
    }

    /// The status as a person reads it.
    static func describe(socket: String, server: ServerStatus.Response, models: ModelStatus.Response) -> String {
        func part(_ name: String, _ part: ModelStatus.Part?) -> String {
            guard let part else { return "  \(name): none" }
            return "  \(name): \(part.name) \(part.path.map { "(\($0))" } ?? "")"
        }
        let megabytes = Double(server.residentMemoryBytes) / 1_048_576
        var lines = [
            "llmrec daemon \(server.processId) on \(socket), up \(String(format: "%.0f", server.uptimeSeconds)) s, \(String(format: "%.0f", megabytes)) MiB",
            "  connections: \(server.connections) open, \(server.connectionsAccepted) since start; sessions: \(server.sessions)",
            "  requests: \(server.served) served, \(server.failed) failed, p99 \(String(format: "%.1f", server.latencyMilliseconds.p99)) ms",
            "models (generation \(models.generation), catalog \(models.catalogSize) items):",
            part("recommender", models.recommender), part("encoder", models.encoder), part("language model", models.languageModel),
            part("bundle", models.bundle),
        ]
        lines.append("  capabilities: " + models.capabilities.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop the running daemon cleanly (SIGTERM: in-flight requests finish, the journal is complete).")

    @OptionGroup var daemon: DaemonClientOptions

    @Option(help: "Seconds to wait for it to exit.")
    var timeout = 30.0

    func run() throws {
        let path = try daemon.socketPath()
        guard let client = try daemon.connectIfRunning() else {
            FileHandle.standardError.write(Data("llmrec: no daemon is running on \(path)\n".utf8))
            return
        }
        let pid: pid_t
        do {
            _ = try client.initialize(clientName: "llmrec-stop")
            pid = pid_t(try client.send(ServerStatus.Request()).processId)
            _ = client.close()
        } catch {
            throw fail(error)
        }
        guard pid > 1, kill(pid, SIGTERM) == 0 else { throw fail(RPCClientError.protocolError("cannot signal daemon \(pid)")) }
        let deadline = Date().addingTimeInterval(timeout)
        while kill(pid, 0) == 0 && Date() < deadline { usleep(20_000) }
        guard kill(pid, 0) != 0 else { throw fail(RPCClientError.protocolError("daemon \(pid) still runs after \(Int(timeout)) s")) }
        FileHandle.standardError.write(Data("llmrec: daemon \(pid) stopped\n".utf8))
    }
}

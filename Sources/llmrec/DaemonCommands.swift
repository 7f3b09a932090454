import ArgumentParser
import Foundation
import JSON
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
            let status = try client.request("server/status")
            _ = client.close()
            print(try daemon.socketPath())
            FileHandle.standardError.write(Data("llmrec: daemon \(status["processId"]?.intValue ?? 0) is running\n".utf8))
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
            let server = try client.request("server/status")
            let models = try client.request("model/status")
            _ = client.close()
            if json {
                print(JSONWriter.compact(["socket": .string(path), "server": server, "models": models]))
                return
            }
            print(Self.describe(socket: path, server: server, models: models))
        } catch {
            throw fail(error)
        }
    }

    /// The status as a person reads it.
    static func describe(socket: String, server: JSONValue, models: JSONValue) -> String {
        func part(_ name: String, _ key: String) -> String {
            guard let value = models[key], value != .null else { return "  \(name): none" }
            return "  \(name): \(value["name"]?.stringValue ?? "?") \(value["path"]?.stringValue.map { "(\($0))" } ?? "")"
        }
        let megabytes = Double(server["residentMemoryBytes"]?.intValue ?? 0) / 1_048_576
        let uptime = server["uptimeSeconds"]?.doubleValue ?? 0
        var lines = [
            "llmrec daemon \(server["processId"]?.intValue ?? 0) on \(socket), up \(String(format: "%.0f", uptime)) s, \(String(format: "%.0f", megabytes)) MiB",
            "  connections: \(server["connections"]?.intValue ?? 0) open, \(server["connectionsAccepted"]?.intValue ?? 0) since start; sessions: \(server["sessions"]?.intValue ?? 0)",
            "  requests: \(server["requests"]?["served"]?.intValue ?? 0) served, \(server["requests"]?["failed"]?.intValue ?? 0) failed, p99 \(String(format: "%.1f", server["latencyMs"]?["p99"]?.doubleValue ?? 0)) ms",
            "models (generation \(models["generation"]?.intValue ?? 0), catalog \(models["catalogSize"]?.intValue ?? 0) items):",
            part("recommender", "recommender"), part("encoder", "encoder"), part("language model", "languageModel"), part("bundle", "bundle"),
        ]
        if let capabilities = models["capabilities"]?.arrayValue {
            lines.append("  capabilities: " + capabilities.compactMap(\.stringValue).joined(separator: ", "))
        }
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
            pid = pid_t(try client.request("server/status")["processId"]?.intValue ?? 0)
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

import ArgumentParser
import Foundation
import JSON
import RPCClient

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to the recommender: streamed answers, ranked items, rejections and purchases.",
        discussion: """
            Talks to the user's shared daemon (started on demand with the configuration file when none \
            answers), to a daemon on --socket, or, with --data, to a private one it starts over stdio with \
            the serve options given here. Each line you type is a `session/message`; lines starting with ':' are commands \
            (:help lists them). Ctrl-C stops an answer being written. With --message (repeatable) it sends \
            those messages and exits (add --json for one JSON reply per line); when standard input is not \
            a terminal, each line of it is a message.
            """
    )

    @OptionGroup(title: "The daemon talked to")
    var daemon: DaemonClientOptions

    @Option(help: "Prepared dataset: start a private daemon over stdio on it instead of using the shared one.")
    var data: String?

    @OptionGroup(title: "The private daemon started with --data")
    var models: ServedModelOptions

    @Option(help: "For the private daemon started with --data: session journal directory.")
    var state: String?

    @Option(help: "Continue this session (opened with this id when it does not exist).")
    var session: String?

    @Option(help: "Comma-separated item ids for a new session's history, oldest first.")
    var history: String?

    @Option(name: .customLong("message"), help: "A message to send (repeatable); the chat ends after the last.")
    var messages: [String] = []

    @Option(name: .short, help: "Items per reply.")
    var k = 5

    @Flag(help: "Print each reply as one JSON line instead of text.")
    var json = false

    @Flag(help: "Do not ask the LM for answers (ranking only).")
    var noAnswer = false

    func validate() throws {
        guard daemon.socket == nil || data == nil else { throw ValidationError("give at most one of --socket PATH and --data DIR") }
        guard data != nil || (models.isEmpty && state == nil) else {
            throw ValidationError("model options and --state apply to a private daemon (--data DIR); the shared one serves its configuration")
        }
        guard (1...100).contains(k) else { throw ValidationError("-k must be in 1...100") }
        if let history, parseIDs(history) == nil { throw ValidationError("--history must be comma-separated item ids") }
    }

    func run() throws {
        do {
            let client = try connect()
            _ = try client.initialize(clientName: "llmrec-chat")
            let chat = try ChatSession(
                client: client, sessionId: session, history: history.flatMap(parseIDs) ?? [], k: k, answer: !noAnswer, json: json)
            ChatInterrupt.install()
            if !messages.isEmpty {
                for message in messages { try chat.handle(line: message) }
            } else {
                let interactive = isatty(STDIN_FILENO) == 1
                if interactive && !json { chat.printWelcome() }
                while true {
                    if interactive { chat.prompt() }
                    guard let line = readLine() else { break }
                    if try !chat.handle(line: line) { break }
                }
            }
            client.close()
        } catch let error as RPCClientError {
            throw fail(error)
        } catch let error as DaemonSettings.Invalid {
            throw fail(error)
        }
    }

    private func connect() throws -> RPCClient {
        guard let data else {
            if let socket = daemon.socket { return try RPCClient(socketPath: socket) }
            return try daemon.connectOrStart()
        }
        let arguments = ["serve", "--stdio", "--data", data] + models.serveArguments + (state.map { ["--state", $0] } ?? [])
        return try RPCClient(spawning: Self.executablePath, arguments: arguments)
    }

    /// This executable, to start the daemon from.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    private func parseIDs(_ text: String) -> [Int32]? {
        var ids: [Int32] = []
        for part in text.split(separator: ",") {
            guard let id = Int32(part.trimmingCharacters(in: .whitespaces)), id >= 1 else { return nil }
            ids.append(id)
        }
        return ids
    }
}

import ArgumentParser
import Foundation
import JSON
import RPCClient

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to the recommender: streamed answers, ranked items, rejections and purchases.",
        discussion: """
            Connects to a daemon on --socket, or starts one over stdio with --data and the serve options \
            given here. Each line you type is a `session/message`; lines starting with ':' are commands \
            (:help lists them). Ctrl-C stops an answer being written. With --message (repeatable) it sends \
            those messages and exits (add --json for one JSON reply per line); when standard input is not \
            a terminal, each line of it is a message.
            """
    )

    @Option(help: "Socket of a running daemon (`llmrec serve --socket PATH`).")
    var socket: String?

    @Option(help: "Prepared dataset: start a daemon over stdio on it (when no --socket).")
    var data: String?

    @OptionGroup(title: "The daemon started here (without --socket)")
    var models: ServedModelOptions

    @Option(help: "For the daemon started here: session journal directory.")
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
        guard (socket == nil) != (data == nil) else { throw ValidationError("give exactly one of --socket PATH and --data DIR") }
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
        }
    }

    private func connect() throws -> RPCClient {
        if let socket { return try RPCClient(socketPath: socket) }
        let arguments = ["serve", "--stdio", "--data", data!] + models.serveArguments + (state.map { ["--state", $0] } ?? [])
        return try RPCClient(spawning: Self.executablePath, arguments: arguments)
    }

    /// This executable, to start the daemon from.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    private func parseIDs(_ text: String) -> [Int]? {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(where: { $0 == nil || $0! < 1 }) ? nil : parts.map { $0! }
    }
}

import Foundation
import JSON
import RPCClient
import Synchronization

/// Ctrl-C while an answer streams: the handler only sets a flag (a C signal handler may do little
/// else); the chat sends `$/cancelRequest` when it sees it. Installed without SA_RESTART, so that
/// a blocked read returns and the flag is seen at once.
enum ChatInterrupt {
    static let requested = Atomic<Bool>(false)

    static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in ChatInterrupt.requested.store(true, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
    }

    /// Whether Ctrl-C was pressed since the last call (and forgets it).
    static func take() -> Bool { requested.exchange(false, ordering: .relaxed) }
}

/// One chat with the daemon: the session, the last list shown (so `:reject 2` means its second
/// item), and how replies are printed. Main thread only.
final class ChatSession {
    private let client: RPCClient
    let sessionId: String
    private let k: Int
    private let answer: Bool
    private let json: Bool
    private var lastItems: [(id: Int, title: String)] = []

    init(client: RPCClient, sessionId: String?, history: [Int], k: Int, answer: Bool, json: Bool) throws {
        self.client = client
        self.k = k
        self.answer = answer
        self.json = json
        if let sessionId, (try? client.request("session/get", ["sessionId": .string(sessionId)])) != nil {
            self.sessionId = sessionId
        } else {
            var params: JSONObject = ["history": .array(history.map { .integer($0) })]
            if let sessionId { params["sessionId"] = .string(sessionId) }
            let opened = try client.request("session/open", .object(params))
            self.sessionId = opened["sessionId"]?.stringValue ?? ""
        }
    }

    func printWelcome() {
        print("session \(sessionId). Say what you are looking for; :help lists commands, Ctrl-D ends.")
    }

    func prompt() {
        print("you> ", terminator: "")
        fflush(nil)
    }

    /// Handles one line; false when the chat should end.
    @discardableResult
    func handle(line: String) throws -> Bool {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return true }
        guard text.hasPrefix(":") else {
            try message(text)
            return true
        }
        let parts = text.dropFirst().split(separator: " ", maxSplits: 1).map(String.init)
        let argument = parts.count > 1 ? parts[1] : ""
        do {
            switch parts.first ?? "" {
            case "quit", "q", "exit": return false
            case "help": printHelp()
            case "reject", "bought", "viewed":
                let kind = parts[0] == "reject" ? "rejected" : parts[0]
                guard let rank = Int(argument), rank >= 1, rank <= lastItems.count else {
                    report("\(parts[0]) takes the number of an item in the last list (1...\(lastItems.count))")
                    return true
                }
                let item = lastItems[rank - 1]
                _ = try client.request(
                    "session/observe",
                    ["sessionId": .string(sessionId), "events": [["itemId": .integer(item.id), "kind": .string(kind)]]])
                report("\(kind) \(item.title)")
            case "recommend": try recommend(query: argument.isEmpty ? nil : argument)
            case "history": try showHistory()
            case "add":
                let fields = argument.split(separator: "|", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard let title = fields.first, !title.isEmpty else {
                    report("add takes TITLE | DESCRIPTION")
                    return true
                }
                let result = try client.request(
                    "catalog/add", ["items": [["title": .string(title), "description": .string(fields.count > 1 ? fields[1] : "")]]])
                let id = result["items"]?.arrayValue?.first?["itemId"]?.intValue ?? 0
                report("added \(title) as item \(id)")
            case "status": try showStatus()
            default: report("unknown command :\(parts.first ?? ""); :help lists them")
            }
        } catch RPCClientError.response(let error) {
            report("error \(error.code): \(error.message)")
        }
        return true
    }

    private func message(_ text: String) throws {
        var params: JSONObject = ["sessionId": .string(sessionId), "text": .string(text), "k": .integer(k), "answer": .bool(answer)]
        params["stream"] = .bool(!json)
        var streamed = false
        let result: JSONValue
        do {
            result = try client.request("session/message", .object(params), onNotification: { method, params in
                guard method == "session/answerDelta", let piece = params["text"]?.stringValue else { return }
                if !streamed {
                    print("llmrec> ", terminator: "")
                    streamed = true
                }
                print(piece, terminator: "")
                fflush(nil)
            }, shouldCancel: ChatInterrupt.take)
        } catch RPCClientError.response(let error) where error.code == -32800 {
            print(streamed ? " [stopped]" : "[stopped]")
            return
        } catch RPCClientError.response(let error) {
            report("error \(error.code): \(error.message)")
            return
        }
        if json {
            print(JSONWriter.compact(result))
            remember(result["items"])
            return
        }
        if streamed { print() }
        printItems(result["items"])
        printUnderstood(result["understood"])
    }

    private func recommend(query: String?) throws {
        var params: JSONObject = ["sessionId": .string(sessionId), "k": .integer(k)]
        if let query { params["query"] = .string(query) }
        let result = try client.request("session/recommend", .object(params))
        if json { print(JSONWriter.compact(result)) } else { printItems(result["items"]) }
        remember(result["items"])
    }

    private func showHistory() throws {
        let session = try client.request("session/get", ["sessionId": .string(sessionId)])
        let events = session["events"]?.arrayValue ?? []
        let ids = Array(Set(events.compactMap { $0["itemId"]?.intValue })).sorted()
        var titles: [Int64: String] = [:]
        if !ids.isEmpty {
            let items = try client.request("catalog/get", ["itemIds": .array(ids.prefix(1000).map { .integer($0) })])
            for item in items["items"]?.arrayValue ?? [] {
                if let id = item["itemId"]?.intValue { titles[id] = item["title"]?.stringValue }
            }
        }
        if json {
            print(JSONWriter.compact(session))
            return
        }
        if events.isEmpty { print("  (no events yet)") }
        for event in events {
            let id = event["itemId"]?.intValue ?? 0
            print("  \(event["kind"]?.stringValue ?? "?")  \(titles[id] ?? "item \(id)")")
        }
    }

    private func showStatus() throws {
        let status = try client.request("model/status")
        if json {
            print(JSONWriter.compact(status))
            return
        }
        let capabilities = status["capabilities"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? ""
        let memory = (status["residentMemoryBytes"]?.intValue).map { " · \($0 >> 20) MiB resident" } ?? ""
        print("  \(status["recommender"]?["name"]?.stringValue ?? "?") · \(status["catalogSize"]?.intValue ?? 0) items · \(capabilities)\(memory)")
    }

    private func remember(_ items: JSONValue?) {
        lastItems = (items?.arrayValue ?? []).compactMap { item in
            guard let id = item["itemId"]?.intValue else { return nil }
            return (Int(id), item["title"]?.stringValue ?? "")
        }
    }

    private func printItems(_ items: JSONValue?) {
        remember(items)
        for (rank, item) in (items?.arrayValue ?? []).enumerated() {
            var line = String(format: "%3d. ", rank + 1) + (item["title"]?.stringValue ?? "")
            if item["added"]?.boolValue == true { line += "  (added)" }
            let facets = item["matchedFacets"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if !facets.isEmpty { line += "  [\(facets.joined(separator: ", "))]" }
            var parts: [String] = []
            for (key, label) in [("collaborative", "cf"), ("text", "text"), ("languageModel", "lm")] {
                if let value = item["scores"]?[key]?.doubleValue { parts.append(String(format: "%@ %+.2f", label, value)) }
            }
            if !parts.isEmpty { line += "   " + parts.joined(separator: "  ") }
            print(line)
        }
    }

    private func printUnderstood(_ understood: JSONValue?) {
        let wanted = understood?["wantedFacets"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let excluded = (understood?["excludedFacets"]?.arrayValue ?? []).compactMap(\.stringValue)
        var parts: [String] = []
        if !wanted.isEmpty { parts.append("wants \(wanted.joined(separator: ", "))") }
        if !excluded.isEmpty { parts.append("excludes \(excluded.joined(separator: ", "))") }
        if !parts.isEmpty { print("  (understood: \(parts.joined(separator: "; ")))") }
    }

    private func printHelp() {
        print("""
              TEXT               say what you want ("something lighter", "no more horror")
              :reject N          never show item N of the last list again
              :bought N, :viewed N   add item N of the last list to the history
              :recommend [TEXT]  recommendations for the session (optionally for TEXT)
              :add TITLE | DESCRIPTION   add an item known only by its text
              :history           what the session holds
              :status            what the daemon has loaded
              :quit              end (Ctrl-D too)
            """)
    }

    private func report(_ text: String) {
        if json {
            print(JSONWriter.compact(["note": .string(text)]))
        } else {
            print("  " + text)
        }
    }
}

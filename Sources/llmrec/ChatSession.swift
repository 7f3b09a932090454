import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
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
    private var lastItems: [SessionMessage.RankedItem] = []

    init(client: RPCClient, sessionId: String?, history: [Int32], k: Int, answer: Bool, json: Bool) throws {
        self.client = client
        self.k = k
        self.answer = answer
        self.json = json
        if let sessionId, (try? client.send(SessionGet.Request(sessionId: sessionId))) != nil {
            self.sessionId = sessionId
        } else {
            self.sessionId = try client.send(SessionOpen.Request(history: history, sessionId: sessionId)).sessionId
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
                let kind: SessionObserve.Kind = parts[0] == "reject" ? .rejected : parts[0] == "bought" ? .bought : .viewed
                guard let rank = Int(argument), rank >= 1, rank <= lastItems.count else {
                    report("\(parts[0]) takes the number of an item in the last list (1...\(lastItems.count))")
                    return true
                }
                let item = lastItems[rank - 1]
                _ = try client.send(SessionObserve.Request(sessionId: sessionId, events: [.init(itemId: item.itemId, kind: kind)]))
                report("\(kind.rawValue) \(item.title)")
            case "recommend": try recommend(query: argument.isEmpty ? nil : argument)
            case "history": try showHistory()
            case "add":
                let fields = argument.split(separator: "|", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard let title = fields.first, !title.isEmpty else {
                    report("add takes TITLE | DESCRIPTION")
                    return true
                }
                let result = try client.send(CatalogAdd.Request(
                    items: [.init(title: title, description: fields.count > 1 ? fields[1] : "")]))
                report("added \(title) as item \(result.items.first?.itemId ?? 0)")
            case "status": try showStatus()
            default: report("unknown command :\(parts.first ?? ""); :help lists them")
            }
        } catch RPCClientError.response(let error) {
            report("error \(error.code): \(error.message)")
        }
        return true
    }

    private func message(_ text: String) throws {
        let request = SessionMessage.Request(sessionId: sessionId, text: text, k: k, answer: answer, stream: !json)
        var streamed = false
        let result: SessionMessage.Response
        do {
            result = try client.send(request, onNotification: { method, params in
                guard method == SessionMessage.AnswerDelta.method, let delta = try? SessionMessage.AnswerDelta(json: params) else { return }
                if !streamed {
                    print("llmrec> ", terminator: "")
                    streamed = true
                }
                print(delta.text, terminator: "")
                fflush(nil)
            }, shouldCancel: ChatInterrupt.take)
        } catch RPCClientError.response(let error) where error.code == ResponseError.requestCancelledCode {
            print(streamed ? " [stopped]" : "[stopped]")
            return
        } catch RPCClientError.response(let error) {
            report("error \(error.code): \(error.message)")
            return
        }
        lastItems = result.items
        if json {
            print(JSONWriter.compact(result.json))
            return
        }
        if streamed { print() }
        printItems(result.items)
        printUnderstood(result.understood)
    }

    private func recommend(query: String?) throws {
        let result = try client.send(SessionRecommend.Request(sessionId: sessionId, k: k, query: query))
        lastItems = result.items
        if json { print(JSONWriter.compact(result.json)) } else { printItems(result.items) }
    }

    private func showHistory() throws {
        let session = try client.send(SessionGet.Request(sessionId: sessionId))
        let ids = Array(Set(session.events.map(\.itemId))).sorted()
        var titles: [Int32: String] = [:]
        if !ids.isEmpty {
            for item in try client.send(CatalogGet.Request(itemIds: Array(ids.prefix(1000)))).items { titles[item.itemId] = item.title }
        }
        if json {
            print(JSONWriter.compact(session.json))
            return
        }
        if session.events.isEmpty { print("  (no events yet)") }
        for event in session.events {
            print("  \(event.kind.rawValue)  \(titles[event.itemId] ?? "item \(event.itemId)")")
        }
    }

    private func showStatus() throws {
        let status = try client.send(ModelStatus.Request())
        if json {
            print(JSONWriter.compact(status.json))
            return
        }
        let memory = status.residentMemoryBytes.map { " · \($0 >> 20) MiB resident" } ?? ""
        print("  \(status.recommender.name) · \(status.catalogSize) items · \(status.capabilities.joined(separator: ", "))\(memory)")
    }

    private func printItems(_ items: [SessionMessage.RankedItem]) {
        for (rank, item) in items.enumerated() {
            var line = String(format: "%3d. ", rank + 1) + item.title
            if let detail = item.detail {
                if detail.added { line += "  (added)" }
                if !detail.matchedFacets.isEmpty { line += "  [\(detail.matchedFacets.joined(separator: ", "))]" }
                let parts = [("cf", detail.collaborative), ("text", detail.text), ("lm", detail.languageModel)].compactMap { label, value in
                    value.map { String(format: "%@ %+.2f", label, Double($0)) }
                }
                if !parts.isEmpty { line += "   " + parts.joined(separator: "  ") }
            }
            print(line)
        }
    }

    private func printUnderstood(_ understood: SessionMessage.Understood) {
        var parts: [String] = []
        if !understood.wantedFacets.isEmpty { parts.append("wants \(understood.wantedFacets.joined(separator: ", "))") }
        if !understood.excludedFacets.isEmpty { parts.append("excludes \(understood.excludedFacets.joined(separator: ", "))") }
        if let shift = understood.shift {
            if !shift.lifted.isEmpty { parts.append("your words lifted \(shift.lifted.map(\.title).joined(separator: ", "))") }
            if !shift.lowered.isEmpty { parts.append("lowered \(shift.lowered.map(\.title).joined(separator: ", "))") }
        }
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

import Foundation
import JSON
import Logging
import Models
import RedisClient

/// A daemon's settings from its configuration file, `$XDG_CONFIG_HOME/llmrec/config.json`
/// (`~/.config/llmrec/config.json` when the variable is unset) or `--config FILE`: one JSON object
/// whose keys are the long options of `llmrec serve` in camel case. Command-line options override
/// them. Relative paths are relative to the file's directory; `~/` is the home directory.
///
/// ```json
/// {"data": "~/.cache/llmrec/data/ml-100k", "bundle": "~/.cache/llmrec/models/ml-100k-allmrec-demo",
///  "state": "~/.local/state/llmrec", "itemNoun": "movie", "lmThreads": 2, "idleExit": 900}
/// ```
struct DaemonSettings: Equatable {
    var data: String?
    var state: String?
    var store: String?
    var socket: String?
    var recommender: String?
    var bundle: String?
    var encoder: String?
    var encoderPrecision: TransformerEncoder.Precision?
    var lm: String?
    var lmThreads: Int?
    var embeddingThreads: Int?
    var itemNoun: String?
    var chatCacheSessions: Int?
    var chatCacheTokens: Int?
    var maxQueuedPerLane: Int?
    var maxMessageBytes: Int?
    var maxSessions: Int?
    var sessionTtl: Double?
    var idleExit: Double?
    var logLevel: Logger.Level?

    /// Every key a configuration file may hold.
    static let keys = [
        "data", "state", "store", "socket", "recommender", "bundle", "encoder", "encoderPrecision", "lm", "lmThreads", "embeddingThreads", "itemNoun",
        "chatCacheSessions", "chatCacheTokens", "maxQueuedPerLane", "maxMessageBytes", "maxSessions", "sessionTtl", "idleExit",
        "logLevel",
    ]

    /// A configuration file that cannot be used; the message names the file and the key.
    struct Invalid: Error, CustomStringConvertible {
        var path: String
        var message: String
        var description: String { "\(path): \(message)" }
    }

    /// The default configuration file's path.
    static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        return base + "/llmrec/config.json"
    }

    /// The settings of `explicitPath` (which must exist), or of the default file when it exists;
    /// empty settings without either.
    static func load(explicitPath: String?) throws -> DaemonSettings {
        if let explicitPath { return try read(explicitPath) }
        let path = defaultPath()
        return FileManager.default.fileExists(atPath: path) ? try read(path) : DaemonSettings()
    }

    /// Reads the configuration file at `path`.
    static func read(_ path: String) throws -> DaemonSettings {
        guard let data = FileManager.default.contents(atPath: path) else { throw Invalid(path: path, message: "cannot be read") }
        let json: JSONValue
        do { json = try JSONValue.parse(Array(data)) } catch { throw Invalid(path: path, message: "not valid JSON: \(error)") }
        guard case .object(let object) = json else { throw Invalid(path: path, message: "must hold one JSON object") }
        let directory = (path as NSString).deletingLastPathComponent
        var settings = DaemonSettings()
        for key in object.keys {
            let value = object[key] ?? .null
            func fail(_ expected: String) -> Invalid {
                Invalid(path: path, message: "key '\(key)' must be \(expected), got \(JSONWriter.compact(value))")
            }
            func text() throws -> String {
                guard let string = value.stringValue, !string.isEmpty else { throw fail("a non-empty string") }
                return string
            }
            func filePath() throws -> String { Self.resolve(try text(), relativeTo: directory) }
            func count(atLeast minimum: Int) throws -> Int {
                guard case .int(let number) = value, number >= minimum, let int = Int(exactly: number) else {
                    throw fail("an integer of at least \(minimum)")
                }
                return int
            }
            func seconds() throws -> Double {
                guard let number = value.doubleValue, number.isFinite, number > 0 else { throw fail("a positive number of seconds") }
                return number
            }
            switch key {
            case "data": settings.data = try filePath()
            case "state": settings.state = try filePath()
            case "store":
                let url = try text()
                // The reason only: the URL may hold a password.
                if case .failure(let error) = RedisEndpoint.parse(url) {
                    throw Invalid(path: path, message: "key 'store' must be redis://HOST[:PORT][/DB] or unix:///PATH[?db=N]: \(error)")
                }
                settings.store = url
            case "socket": settings.socket = try filePath()
            case "recommender": settings.recommender = try text()
            case "bundle": settings.bundle = try filePath()
            case "encoder": settings.encoder = try filePath()
            case "encoderPrecision":
                guard let precision = TransformerEncoder.Precision(rawValue: try text()) else { throw fail("\"bf16\" or \"f32\"") }
                settings.encoderPrecision = precision
            case "lm": settings.lm = try filePath()
            case "lmThreads": settings.lmThreads = try count(atLeast: 1)
            case "embeddingThreads": settings.embeddingThreads = try count(atLeast: 1)
            case "itemNoun": settings.itemNoun = try text()
            case "chatCacheSessions": settings.chatCacheSessions = try count(atLeast: 0)
            case "chatCacheTokens": settings.chatCacheTokens = try count(atLeast: 64)
            case "maxQueuedPerLane": settings.maxQueuedPerLane = try count(atLeast: 1)
            case "maxMessageBytes": settings.maxMessageBytes = try count(atLeast: 1024)
            case "maxSessions": settings.maxSessions = try count(atLeast: 1)
            case "sessionTtl": settings.sessionTtl = try seconds()
            case "idleExit": settings.idleExit = try seconds()
            case "logLevel":
                guard let level = Logger.Level(rawValue: try text()) else {
                    throw fail("one of \(Logger.Level.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
                }
                settings.logLevel = level
            default:
                throw Invalid(path: path, message: "unknown key '\(key)' (known: \(keys.joined(separator: ", ")))")
            }
        }
        return settings
    }

    /// `~/x` in the home directory, `x` relative to `directory`, absolute paths as they are.
    static func resolve(_ path: String, relativeTo directory: String) -> String {
        if path.hasPrefix("~/") { return NSHomeDirectory() + String(path.dropFirst(1)) }
        if path.hasPrefix("/") { return path }
        return directory + "/" + path
    }
}

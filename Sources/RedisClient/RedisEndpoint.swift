/// Where a Redis server listens, parsed from a URL: `redis://[:PASSWORD@]HOST[:PORT][/DB]` (TCP,
/// port 6379 by default) or `unix://PATH[?db=DB]` (a Unix socket; PATH is absolute).
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    /// The logical database (`SELECT`), 0 by default.
    public var database: Int
    /// Sent with `AUTH` on connect; never printed.
    public var password: String?

    public init(address: Address, database: Int = 0, password: String? = nil) {
        self.address = address
        self.database = database
        self.password = password
    }

    /// Parses a URL; nil with the reason when it is not one of the two forms.
    public static func parse(_ url: String) -> Result<RedisEndpoint, RedisURLError> {
        if url.hasPrefix("unix://") {
            var rest = String(url.dropFirst("unix://".count))
            var database = 0
            if let query = rest.firstIndex(of: "?") {
                let parameter = rest[rest.index(after: query)...]
                guard parameter.hasPrefix("db="), let value = Int(parameter.dropFirst(3)), value >= 0 else {
                    return .failure(RedisURLError(url: url, reason: "the only query parameter is db=N"))
                }
                database = value
                rest = String(rest[..<query])
            }
            guard rest.hasPrefix("/") else { return .failure(RedisURLError(url: url, reason: "the socket path must be absolute")) }
            guard rest.utf8.count <= 107 else { return .failure(RedisURLError(url: url, reason: "the socket path is longer than 107 bytes")) }
            return .success(RedisEndpoint(address: .unix(path: rest), database: database))
        }
        guard url.hasPrefix("redis://") else {
            return .failure(RedisURLError(url: url, reason: "expected redis://HOST[:PORT][/DB] or unix:///PATH[?db=N]"))
        }
        var rest = Substring(url.dropFirst("redis://".count))
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            password = credentials.firstIndex(of: ":").map { String(credentials[credentials.index(after: $0)...]) } ?? String(credentials)
            rest = rest[rest.index(after: at)...]
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let value = Int(path), value >= 0 else { return .failure(RedisURLError(url: url, reason: "the database must be a number")) }
                database = value
            }
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = 6379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return .failure(RedisURLError(url: url, reason: "unclosed IPv6 address")) }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else {
                    return .failure(RedisURLError(url: url, reason: "the port must be 1-65535"))
                }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let value = Int(rest[rest.index(after: colon)...]), (1...65535).contains(value) else {
                return .failure(RedisURLError(url: url, reason: "the port must be 1-65535"))
            }
            port = value
        }
        guard !host.isEmpty else { return .failure(RedisURLError(url: url, reason: "no host")) }
        return .success(RedisEndpoint(address: .tcp(host: host, port: port), database: database, password: password))
    }

    /// The endpoint without its password.
    public var description: String {
        switch address {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "redis://\(shownHost):\(port)" + (database == 0 ? "" : "/\(database)")
        case .unix(let path):
            return "unix://\(path)" + (database == 0 ? "" : "?db=\(database)")
        }
    }
}

/// A Redis URL that cannot be used, and why.
public struct RedisURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var url: String
    public var reason: String

    public var description: String { "not a Redis URL (\(reason))" }
}

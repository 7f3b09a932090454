import Foundation
import JSON

/// What the journals share: replaying a file of JSON lines, opening it for appends, and writing
/// bytes durably. Loop thread only.
enum JournalFile {
    /// Creates `directory` when needed and hands each non-empty line of `directory/name`, parsed, to
    /// `apply`; a line that does not parse or that `apply` refuses (false) is skipped and counted.
    static func replay(directory: String, name: String, _ apply: (JSONValue) -> Bool) throws(JournalError)
        -> (path: String, skippedLines: Int)
    {
        let path = directory + "/" + name
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotOpen(path: path, reason: error.localizedDescription)
        }
        var skipped = 0
        if let data = FileManager.default.contents(atPath: path) {
            for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                guard let record = try? JSONValue.parse(Array(line)), apply(record) else {
                    skipped += 1
                    continue
                }
            }
        }
        return (path, skipped)
    }

    /// A descriptor that appends to `path` (created with mode 0600 when `create`).
    static func openForAppending(_ path: String, create: Bool) throws(JournalError) -> Int32 {
        let fd = create ? Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) : Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        return fd
    }

    /// Writes every byte to `fd` (retrying interrupted writes), then `sync`s it (`fdatasync` for an
    /// append, `fsync` for a new file); errors name `path`.
    static func writeAll(_ bytes: [UInt8], to fd: Int32, path: String, sync: (Int32) -> Int32 = fdatasync) throws(JournalError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            offset += written
        }
        guard sync(fd) == 0 else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
    }
}

import Foundation
import JSON

/// What the journals share: replaying a file of JSON lines, opening it for appends, appending
/// durably, and replacing it whole. Every file is created private (0600) and opened without
/// following a symbolic link, so a link planted in the state directory is refused rather than
/// written through.
enum JournalFile {
    /// Creates `directory` (0700, whatever the umask) when needed and hands each non-empty line of
    /// `directory/name`, parsed, to `apply`; a line that does not parse or that `apply` refuses
    /// (false) is skipped and counted. A last line without its newline (a write cut short by a
    /// crash, never acknowledged) is counted and cut off the file, so that the next append starts
    /// a line of its own. A stale `name.tmp` from an interrupted compaction is removed.
    static func replay(directory: String, name: String, _ apply: (JSONValue) -> Bool) throws(JournalError)
        -> (path: String, skippedLines: Int)
    {
        let path = directory + "/" + name
        try createPrivateDirectory(directory, path: path)
        unlink(path + ".tmp")
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return (path, 0) }
            throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(path: path, reason: "not a regular file") }
        var data = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < data.count {
            let got = data.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(filled)) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw .cannotOpen(path: path, reason: got < 0 ? String(cString: strerror(errno)) : "file shrank while read") }
            filled += got
        }
        var skipped = 0
        var complete = data.count
        if let lastNewline = data.lastIndex(of: UInt8(ascii: "\n")), lastNewline + 1 < data.count {
            complete = lastNewline + 1
        } else if !data.contains(UInt8(ascii: "\n")) {
            complete = 0
        }
        if complete < data.count {
            skipped += 1
            guard ftruncate(fd, off_t(complete)) == 0, fsync(fd) == 0 else {
                throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
        }
        for line in data[..<complete].split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let record = try? JSONValue.parse(Array(line)), apply(record) else {
                skipped += 1
                continue
            }
        }
        return (path, skipped)
    }

    /// Creates `directory` and its missing parents with mode 0700.
    private static func createPrivateDirectory(_ directory: String, path: String) throws(JournalError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw .cannotOpen(path: path, reason: "\(directory) is not a directory") }
            return
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != directory { try createPrivateDirectory(parent, path: path) }
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST, chmod(directory, 0o700) == 0 else {
            throw .cannotOpen(path: path, reason: "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// A descriptor that appends to the regular file `path` (created 0600 when `create`), never
    /// through a symbolic link.
    static func openForAppending(_ path: String, create: Bool) throws(JournalError) -> Int32 {
        let flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0)
        let fd = Glibc.open(path, flags, 0o600)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            throw .cannotOpen(path: path, reason: "not a regular file")
        }
        return fd
    }

    /// Appends `bytes` to `fd` and `fdatasync`s it. When any of it cannot be written or synced, the
    /// file is cut back to its length before the call, so a failed append never leaves half a line
    /// for the next one to be glued to; errors name `path`.
    static func append(_ bytes: [UInt8], to fd: Int32, path: String) throws(JournalError) {
        let start = lseek(fd, 0, SEEK_END)
        guard start >= 0 else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        do throws(JournalError) {
            try writeAll(bytes, to: fd, path: path)
            guard fdatasync(fd) == 0 else { throw JournalError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        } catch {
            _ = ftruncate(fd, start)
            throw error
        }
    }

    /// Replaces `path` with `bytes` durably: a private temporary file (created exclusively, so a
    /// planted file or link there is never written through) is written, synced and renamed over
    /// `path`, then the directory is synced. On failure the temporary file is removed and `path`
    /// is left as it was.
    static func replace(_ path: String, with bytes: [UInt8]) throws(JournalError) {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotWrite(path: temporary, reason: String(cString: strerror(errno))) }
        do throws(JournalError) {
            try writeAll(bytes, to: fd, path: path)
            guard fsync(fd) == 0 else { throw JournalError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
            guard rename(temporary, path) == 0 else { throw JournalError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        } catch {
            Glibc.close(fd)
            unlink(temporary)
            throw error
        }
        Glibc.close(fd)
        let directory = Glibc.open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            Glibc.close(directory)
        }
    }

    /// Writes every byte of `bytes` to `fd`, retrying interrupted and short writes.
    private static func writeAll(_ bytes: [UInt8], to fd: Int32, path: String) throws(JournalError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            offset += written
        }
    }
}

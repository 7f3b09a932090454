#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The one way model files are opened: every checkpoint, GGUF, tokenizer and configuration file
/// the project reads comes through here, so a path that names a directory, a FIFO, a device or a
/// file of `/proc` is refused before anything is read or allocated.
///
/// Opening never blocks (`O_NONBLOCK`: a FIFO without a writer would otherwise hang `open`), and
/// only regular files are accepted; reads are bounded by the size `fstat` reported and by the
/// caller's `limit`, so a file cannot make the reader allocate more than it holds.
public enum ModelFile {
    /// Configuration and tokenizer files larger than this are refused by `contents(of:)`.
    public static let defaultLimit = 512 << 20

    /// An open regular file and its size in bytes; the caller closes `descriptor`.
    struct Opened {
        let descriptor: Int32
        let size: Int
    }

    /// Opens `path` read-only if it is a regular file.
    /// - Throws: `.fileNotFound` when nothing is there, `.unreadable` for anything else that is not
    ///   a readable regular file.
    static func openRegular(_ path: String) throws(CheckpointError) -> Opened {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            throw code == ENOENT || code == ENOTDIR ? .fileNotFound(path: path) : .unreadable(path: path, reason: message(code))
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw .unreadable(path: path, reason: message(code))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG, !isPseudoFile(fd) else {
            close(fd)
            throw .unreadable(path: path, reason: "not a regular file")
        }
        return Opened(descriptor: fd, size: Int(info.st_size))
    }

    /// Whether `fd` lies under `/proc` or `/sys`, whose "regular" files are views of the kernel
    /// (such as `/proc/self/mem`), not stored bytes. The path is the one the kernel resolved.
    private static func isPseudoFile(_ fd: Int32) -> Bool {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard length > 0 else { return false }
        let resolved = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return resolved.hasPrefix("/proc/") || resolved.hasPrefix("/sys/")
    }

    /// Whether `path` is a regular file that can be opened for reading.
    public static func isReadableRegularFile(_ path: String) -> Bool {
        guard let opened = try? openRegular(path) else { return false }
        close(opened.descriptor)
        return true
    }

    /// The whole content of the regular file at `path`.
    /// - Throws: the errors of opening, `.unreadable` for a read error or a file over `limit` bytes
    ///   (files whose size `fstat` does not know, as in `/proc`, are read up to `limit`).
    public static func contents(of path: String, limit: Int = defaultLimit) throws(CheckpointError) -> Data {
        let opened = try openRegular(path)
        defer { close(opened.descriptor) }
        guard opened.size <= limit else {
            throw .unreadable(path: path, reason: "\(opened.size) bytes, more than the \(limit) this file may have")
        }
        var data = Data(count: opened.size)
        var filled = 0
        while true {
            if filled == data.count {
                guard data.count < limit else { throw .unreadable(path: path, reason: "more than the \(limit) bytes this file may have") }
                data.count = min(limit, max(4096, data.count * 2))
            }
            let count = data.count
            let got = data.withUnsafeMutableBytes { read(opened.descriptor, $0.baseAddress! + filled, count - filled) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: message(errno))
            }
            if got == 0 { break }
            filled += got
        }
        data.count = filled
        return data
    }

    /// Hands the regular file at `path` to `body` in order, `chunkSize` bytes at a time (the last
    /// chunk shorter), without holding more than one chunk.
    public static func readChunks(
        of path: String, chunkSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(CheckpointError) {
        let opened = try openRegular(path)
        defer { close(opened.descriptor) }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let got = buffer.withUnsafeMutableBytes { read(opened.descriptor, $0.baseAddress!, chunkSize) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: message(errno))
            }
            if got == 0 { return }
            buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[..<got])) }
        }
    }

    /// The first `count` bytes of the regular file at `path` (fewer when the file is shorter).
    public static func prefix(of path: String, count: Int) throws(CheckpointError) -> [UInt8] {
        let opened = try openRegular(path)
        defer { close(opened.descriptor) }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { pread(opened.descriptor, $0.baseAddress! + filled, count - filled, off_t(filled)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: message(errno))
            }
            if got == 0 { break }
            filled += got
        }
        return Array(bytes[..<filled])
    }

    static func message(_ code: Int32) -> String { String(cString: strerror(code)) }
}

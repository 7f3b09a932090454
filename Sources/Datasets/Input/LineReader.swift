import Foundation

/// Errors raised while reading an input file.
public enum InputError: Error, Sendable, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    /// `gzip -dc` rejected the file (truncated or corrupt archive); the lines before the damage were read.
    case corruptCompressedFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "\(path): no such file"
        case .unreadable(let path, let reason): return "\(path): cannot read (\(reason))"
        case .corruptCompressedFile(let path, let reason): return "\(path): corrupt or truncated gzip file (\(reason))"
        }
    }
}

/// Streams the lines of a plain or gzip-compressed text file with bounded memory.
///
/// Compression is detected from the file's magic bytes, not its name. Gzip files are decompressed by
/// the system's `gzip -dc` in a child process (present on every Linux), so the project needs no
/// compression library. Lines are delivered without their terminator (`\n` or `\r\n`) as a borrowed
/// byte buffer that is valid only during the callback. Memory: one 1 MiB read buffer plus the longest line.
public struct LineReader: Sendable {
    public let path: String
    public let isCompressed: Bool
    /// Size of the file on disk, in bytes.
    public let fileSize: Int64
    /// Expected number of decompressed bytes (for progress): the file size for plain files, the gzip
    /// trailer's ISIZE field for gzip files (exact below 4 GiB, a lower bound modulo 2^32 above).
    public let expectedBytes: Int64

    public init(path: String) throws(InputError) {
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw errno == ENOENT ? .fileNotFound(path: path) : .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .unreadable(path: path, reason: "not a regular file") }
        fileSize = Int64(info.st_size)
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 2)
        let got = read(fd, &magic, 2)
        isCompressed = got == 2 && magic[0] == 0x1F && magic[1] == 0x8B
        if isCompressed, fileSize >= 18 {
            var trailer = [UInt8](repeating: 0, count: 4)
            _ = pread(fd, &trailer, 4, off_t(fileSize - 4))
            let isize = Int64(trailer[0]) | Int64(trailer[1]) << 8 | Int64(trailer[2]) << 16 | Int64(trailer[3]) << 24
            expectedBytes = max(isize, fileSize)
        } else {
            expectedBytes = fileSize
        }
    }

    /// Calls `body(line, lineNumber, bytesReadSoFar)` for every line; `lineNumber` is 1-based and
    /// `bytesReadSoFar` counts decompressed bytes. A final line without a terminator is delivered too.
    public func forEachLine(
        _ body: (_ line: UnsafeRawBufferPointer, _ lineNumber: Int, _ bytesRead: Int64) throws -> Void
    ) throws {
        let source = try openSource()
        defer { source.finish() }
        let chunkSize = 1 << 20
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        var carry: [UInt8] = []
        var lineNumber = 0
        var bytesRead: Int64 = 0

        func deliver(_ line: UnsafeRawBufferPointer) throws {
            lineNumber += 1
            var count = line.count
            if count > 0, line[count - 1] == UInt8(ascii: "\r") { count -= 1 }
            try body(UnsafeRawBufferPointer(rebasing: line[0..<count]), lineNumber, bytesRead)
        }

        while true {
            let got = read(source.fd, chunk.baseAddress, chunkSize)
            if got < 0 {
                if errno == EINTR { continue }
                throw InputError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if got == 0 { break }
            bytesRead += Int64(got)
            let filled = UnsafeRawBufferPointer(rebasing: chunk[0..<got])
            var start = 0
            while let newline = filled[start...].firstIndex(of: UInt8(ascii: "\n")) {
                if carry.isEmpty {
                    try deliver(UnsafeRawBufferPointer(rebasing: filled[start..<newline]))
                } else {
                    carry.append(contentsOf: filled[start..<newline])
                    try carry.withUnsafeBytes { try deliver($0) }
                    carry.removeAll(keepingCapacity: true)
                }
                start = newline + 1
            }
            carry.append(contentsOf: filled[start...])
        }
        if !carry.isEmpty { try carry.withUnsafeBytes { try deliver($0) } }
        try source.checkExit(path: path)
    }

    private func openSource() throws(InputError) -> ByteSource {
        if !isCompressed {
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
            return ByteSource(fd: fd, process: nil, errorPipe: nil)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", "--", path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw .unreadable(path: path, reason: "cannot start gzip: \(error.localizedDescription)")
        }
        return ByteSource(fd: output.fileHandleForReading.fileDescriptor, process: process, errorPipe: errors)
    }
}

/// The file descriptor a `LineReader` reads from, and the decompressor behind it if any.
private final class ByteSource {
    let fd: Int32
    let process: Process?
    let errorPipe: Pipe?
    private var finished = false

    init(fd: Int32, process: Process?, errorPipe: Pipe?) {
        self.fd = fd
        self.process = process
        self.errorPipe = errorPipe
    }

    /// Throws when the decompressor reported damage; call after reading to EOF.
    func checkExit(path: String) throws {
        guard let process else { return }
        process.waitUntilExit()
        finished = true
        guard process.terminationStatus == 0 else {
            let message = errorPipe.map { String(decoding: $0.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) } ?? ""
            throw InputError.corruptCompressedFile(
                path: path, reason: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Releases the descriptor and stops the decompressor if the reader stopped early.
    func finish() {
        if let process {
            if !finished && process.isRunning { process.terminate() }
            if !finished { process.waitUntilExit() }
        } else {
            close(fd)
        }
    }
}

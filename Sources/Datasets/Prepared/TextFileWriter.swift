import Foundation
import Numerics

/// Buffered writing of a text file, with an optional running FNV-1a-64 hash of the bytes written.
/// Not thread-safe. `close()` must be called; it reports write errors (a full disk, say).
final class TextFileWriter {
    let path: String
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: [UInt8] = []
    private var fingerprint = FNV1a64()

    init(path: String) throws {
        self.path = path
        guard let file = fopen(path, "w") else {
            throw PrepareError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        self.file = file
        buffer.reserveCapacity(1 << 20)
    }

    /// FNV-1a-64 of everything written so far.
    var hash: UInt64 { fingerprint.value }

    func write(_ text: String) throws {
        fingerprint.combine(text.utf8)
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        let written = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == buffer.count else {
            throw PrepareError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        guard fclose(file) == 0 else { throw PrepareError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
    }
}

/// Refuses a `destination` that exists and is neither an empty directory nor a prepared dataset
/// (`dataset.json` inside): replacing it would delete files this program did not write.
func checkReplaceable(_ destination: String) throws {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    guard manager.fileExists(atPath: destination, isDirectory: &isDirectory) else { return }
    guard isDirectory.boolValue else {
        throw PrepareError.cannotWrite(path: destination, reason: "it exists and is not a directory; choose another --out")
    }
    let entries = (try? manager.contentsOfDirectory(atPath: destination)) ?? []
    guard entries.isEmpty || entries.contains("dataset.json") else {
        throw PrepareError.cannotWrite(
            path: destination, reason: "it exists and is not a prepared dataset (no dataset.json); refusing to replace its \(entries.count) entries")
    }
}

/// Replaces `destination` by the directory `staged` in one rename, so that readers see either the old
/// dataset or the new one, never a half-written directory. `destination` must pass `checkReplaceable`.
func replaceDirectory(_ destination: String, with staged: String) throws {
    try checkReplaceable(destination)
    let manager = FileManager.default
    let previous = destination + ".previous"
    try? manager.removeItem(atPath: previous)
    if manager.fileExists(atPath: destination) {
        do { try manager.moveItem(atPath: destination, toPath: previous) } catch {
            throw PrepareError.cannotWrite(path: destination, reason: "\(error.localizedDescription)")
        }
    }
    do { try manager.moveItem(atPath: staged, toPath: destination) } catch {
        throw PrepareError.cannotWrite(path: destination, reason: "\(error.localizedDescription)")
    }
    try? manager.removeItem(atPath: previous)
}

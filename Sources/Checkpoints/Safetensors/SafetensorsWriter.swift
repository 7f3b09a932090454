import Numerics

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SafetensorsFile {
    /// Writes `tensors` as a safetensors file of F32 little-endian tensors, in the order given, with
    /// `metadata` as the header's `__metadata__` (left out when empty).
    ///
    /// The header is padded with spaces so that the data section starts at a multiple of 8 bytes. The
    /// write is atomic: the bytes go to a temporary file beside `path`, which is flushed to disk and then
    /// renamed over `path`, so readers see either the old file or the complete new one.
    /// - Throws: `.invalidTensorName` (empty, repeated or `__metadata__`), `.shapeMismatch` when a
    ///   tensor's storage does not hold product(shape) elements (`got` is `[storage.count]`),
    ///   `.writeFailed`.
    public static func write(
        tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to path: String
    ) throws(CheckpointError) {
        var seen = Set<String>()
        for (name, tensor) in tensors {
            guard !name.isEmpty, name != SafetensorsHeader.metadataKey, seen.insert(name).inserted else {
                throw .invalidTensorName(name: name, path: path)
            }
            guard ElementLayout.elementCount(tensor.shape) == tensor.storage.count else {
                throw .shapeMismatch(name: name, expected: tensor.shape, got: [tensor.storage.count], path: path)
            }
        }
        let header = headerBytes(tensors: tensors, metadata: metadata)
        let length = UInt64(header.count).littleEndian

        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(path: path, reason: ModelFile.message(errno)) }
        // errno of the first failure, 0 while everything succeeds.
        var failure = withUnsafeBytes(of: length) { writeAll(fd, $0) }
        if failure == 0 { failure = header.withUnsafeBytes { writeAll(fd, $0) } }
        for (_, tensor) in tensors where failure == 0 {
            #if _endian(little)
            failure = tensor.storage.withUnsafeBytes { writeAll(fd, $0) }
            #else
            failure = tensor.storage.map { $0.bitPattern.littleEndian }.withUnsafeBytes { writeAll(fd, $0) }
            #endif
        }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == 0 { failure = errno }
        guard failure == 0 else {
            unlink(temporary)
            throw .writeFailed(path: path, reason: ModelFile.message(failure))
        }
        guard rename(temporary, path) == 0 else {
            let reason = ModelFile.message(errno)
            unlink(temporary)
            throw .writeFailed(path: path, reason: reason)
        }
    }

    /// The JSON header, space-padded so that `8 + count` is a multiple of 8.
    static func headerBytes(tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) -> [UInt8] {
        var json = "{"
        if !metadata.isEmpty {
            let entries = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            json += "\(jsonString(SafetensorsHeader.metadataKey)):{\(entries.joined(separator: ","))}"
        }
        var offset = 0
        var first = metadata.isEmpty
        for (name, tensor) in tensors {
            let end = offset + tensor.storage.count * DType.f32.byteCount
            if !first { json += "," }
            first = false
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            json += "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        json += "}"
        var bytes = Array(json.utf8)
        while bytes.count % 8 != 0 { bytes.append(UInt8(ascii: " ")) }
        return bytes
    }

    /// `string` as a JSON string literal: quotes, backslashes and control characters escaped.
    private static func jsonString(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Writes every byte, retrying short writes and interrupted calls; returns 0 or the failing errno.
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        var done = 0
        while done < bytes.count {
            let written = systemWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += written
        }
        return 0
    }
}

/// The C library's `write(2)`, named apart from `SafetensorsFile.write(tensors:metadata:to:)`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

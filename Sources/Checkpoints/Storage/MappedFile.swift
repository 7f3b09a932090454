#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole regular file (`ModelFile.openRegular`) mapped read-only into memory (`mmap`, `PROT_READ`,
/// `MAP_PRIVATE`); unmapped on deinit.
///
/// `bytes` is valid for as long as this object lives; callers that hand out pointers into it keep the
/// object alive alongside (see `SafetensorsFile.rawBytes(named:)`). The mapping is immutable, so the
/// object may be shared between threads. If another process truncates the file while it is mapped,
/// reading the lost pages raises SIGBUS: checkpoints must not be rewritten in place while loaded
/// (the writer here replaces files by rename, which leaves existing mappings intact).
final class MappedFile: @unchecked Sendable {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws(CheckpointError) {
        self.path = path
        let fd = try ModelFile.openRegular(path)
        defer { close(fd.descriptor) }
        let size = fd.size
        guard size > 0 else {
            // mmap rejects a zero length; an empty file is an empty buffer.
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd.descriptor, 0), base != MAP_FAILED else {
            throw .unreadable(path: path, reason: "mmap: " + ModelFile.message(errno))
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Drops this process's mapping of the whole pages inside `range` (bytes of the file): they
    /// leave the resident set and are read again from the page cache if touched. For loaders that
    /// convert a large file tensor by tensor and never return to what they converted.
    func releasePages(_ range: Range<Int>) {
        guard let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > first else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + first), end - first, MADV_DONTNEED)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

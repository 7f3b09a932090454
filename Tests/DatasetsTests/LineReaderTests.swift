import Datasets
import Foundation
import Testing

@Suite struct LineReaderTests {
    private func lines(of path: String) throws -> [String] {
        var lines: [String] = []
        try LineReader(path: path).forEachLine { line, _, _ in lines.append(String(decoding: line, as: UTF8.self)) }
        return lines
    }

    @Test func deliversLinesWithoutTerminatorsAcrossChunkBoundaries() throws {
        let path = Support.scratchDirectory() + "/lines.txt"
        let long = String(repeating: "x", count: 3 << 20)  // longer than one 1 MiB read
        try Data("a\r\n\(long)\nlast without newline".utf8).write(to: URL(fileURLWithPath: path))
        let read = try lines(of: path)
        #expect(read.count == 3)
        #expect(read[0] == "a")
        #expect(read[1].count == long.count)
        #expect(read[2] == "last without newline")
    }

    @Test func detectsGzipByContentNotName() throws {
        let reader = try LineReader(path: Support.fixture("amazon2023_reviews.jsonl.gz"))
        #expect(reader.isCompressed)
        #expect(reader.expectedBytes == Int64(Support.read(Support.fixture("amazon2023_reviews.jsonl")).utf8.count))
        #expect(try lines(of: reader.path) == (try lines(of: Support.fixture("amazon2023_reviews.jsonl"))))
        #expect(!(try LineReader(path: Support.fixture("tiny.inter")).isCompressed))
    }

    @Test func reportsTruncatedGzipAfterDeliveringWhatWasReadable() throws {
        let path = Support.fixture("truncated.jsonl.gz")
        var count = 0
        #expect(throws: InputError.self) {
            try LineReader(path: path).forEachLine { _, _, _ in count += 1 }
        }
        #expect(count > 0)
        do {
            try LineReader(path: path).forEachLine { _, _, _ in }
        } catch let error as InputError {
            guard case .corruptCompressedFile(let failing, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(failing == path)
        }
    }

    @Test func missingFilesAndDirectoriesAreTypedErrors() throws {
        #expect(throws: InputError.fileNotFound(path: "/nonexistent/reviews.jsonl")) {
            try LineReader(path: "/nonexistent/reviews.jsonl")
        }
        #expect(throws: InputError.unreadable(path: "/tmp", reason: "not a regular file")) {
            try LineReader(path: "/tmp")
        }
    }
}

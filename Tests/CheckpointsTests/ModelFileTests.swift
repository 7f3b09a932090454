import Checkpoints
import Foundation
import Testing

/// The one path model files are read through refuses what is not a regular file before reading.
@Suite struct ModelFileTests {
    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "llmrec-modelfile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func readsARegularFileWhole() throws {
        let path = try temporaryDirectory() + "/config.json"
        try Data("{\"a\": 1}".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try ModelFile.contents(of: path) == Data("{\"a\": 1}".utf8))
        #expect(try ModelFile.prefix(of: path, count: 2) == [0x7B, 0x22])
        #expect(try ModelFile.prefix(of: path, count: 100).count == 8)
        var chunks: [Int] = []
        try ModelFile.readChunks(of: path, chunkSize: 3) { chunks.append($0.count) }
        #expect(chunks == [3, 3, 2])
    }

    @Test func refusesDirectoriesFIFOsAndProcFilesWithoutBlocking() throws {
        let directory = try temporaryDirectory()
        let fifo = directory + "/fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        for path in [directory, fifo, "/proc/self/mem", "/dev/zero"] {
            #expect(throws: CheckpointError.unreadable(path: path, reason: "not a regular file")) { try ModelFile.contents(of: path) }
            #expect(!ModelFile.isReadableRegularFile(path))
        }
        #expect(throws: CheckpointError.fileNotFound(path: directory + "/missing")) { try ModelFile.contents(of: directory + "/missing") }
        #expect(throws: CheckpointError.fileNotFound(path: fifo + "/below")) { try ModelFile.prefix(of: fifo + "/below", count: 2) }
    }

    @Test func refusesFilesOverTheLimitBeforeReadingThem() throws {
        let path = try temporaryDirectory() + "/big.json"
        try Data(repeating: 0x20, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(throws: CheckpointError.unreadable(path: path, reason: "4096 bytes, more than the 1024 this file may have")) {
            try ModelFile.contents(of: path, limit: 1024)
        }
    }

    @Test func aSafetensorsReaderDoesNotEchoTheBytesOfAFileOfAnotherFormat() throws {
        let path = try temporaryDirectory() + "/model.safetensors"
        try Data("ABCDEFGH and then some text".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("read a file that is not safetensors")
        } catch {
            #expect(!"\(error)".contains(String(UInt64(0x4847_4645_4443_4241))))
        }
    }
}

import Foundation
import JSON
import Testing

/// Runs the real `llmrec` executable built next to the test bundle.
@Suite struct CommandLineTests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var executable: String {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidate = products
        // The test runner may live inside a .xctest bundle directory.
        while !FileManager.default.fileExists(atPath: candidate.appendingPathComponent("llmrec").path),
            candidate.pathComponents.count > 1
        {
            candidate.deleteLastPathComponent()
        }
        return candidate.appendingPathComponent("llmrec").path
    }

    /// Runs `llmrec arguments`, with `environment` added to this process's.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func fixturesDirectory() -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DatasetsTests/Fixtures").path
    }

    @Test func prepareRefusesToReplaceADirectoryThatIsNotADataset() throws {
        let out = NSTemporaryDirectory() + "llmrec-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        let fixtures = Self.fixturesDirectory()
        let arguments = [
            "prepare", "--format", "amazon2023", "--reviews", fixtures + "/amazon2023_reviews.jsonl",
            "--meta", fixtures + "/amazon2023_meta.jsonl.gz", "--out", out, "--quiet",
        ]
        let refused = try Self.run(arguments)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("not a prepared dataset"))
        #expect(try String(contentsOfFile: out + "/notes.txt", encoding: .utf8) == "mine\n", "nothing of it is deleted")
        // An empty directory, and a dataset prepared before, are replaced.
        try FileManager.default.removeItem(atPath: out + "/notes.txt")
        #expect(try Self.run(arguments).status == 0)
        #expect(try Self.run(arguments).status == 0)
        #expect(FileManager.default.fileExists(atPath: out + "/dataset.json"))
    }

    @Test func prepareThenEvalPrintsOneJSONObject() throws {
        let out = NSTemporaryDirectory() + "llmrec-cli-\(UUID().uuidString)"
        let fixtures = Self.fixturesDirectory()
        let prepared = try Self.run([
            "prepare", "--format", "amazon2023", "--reviews", fixtures + "/amazon2023_reviews.jsonl",
            "--meta", fixtures + "/amazon2023_meta.jsonl.gz", "--out", out, "--quiet",
        ])
        #expect(prepared.status == 0, "\(prepared.stderr)")
        #expect(prepared.stderr.contains("malformed lines skipped: 4"))
        let evaluated = try Self.run([
            "eval", "--data", out, "--model", "popularity", "--protocol", "candidates20", "--seed", "7", "--json", "--quiet",
        ])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let lines = evaluated.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let report = try JSONValue.parse(String(lines[0]))
        #expect(report["model"] == "popularity")
        #expect(report["protocol"] == "candidates20")
        #expect(report["cases"] == 3)
        for group in ["overall", "cold", "warm"] {
            #expect(report[group]?["hit@1"]?.doubleValue != nil)
            #expect(report[group]?["ndcg@10"]?.doubleValue != nil)
            #expect(report[group]?["mrr"]?.doubleValue != nil)
        }
        // --write-scores: a line per case; a directory it cannot write into is refused before evaluating.
        let scores = out + "/scores.jsonl"
        let written = try Self.run([
            "eval", "--data", out, "--model", "popularity", "--seed", "7", "--json", "--quiet", "--write-scores", scores,
        ])
        #expect(written.status == 0, "\(written.stderr)")
        let scoreLines = try String(contentsOfFile: scores, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(scoreLines.count == 3)
        for line in scoreLines {
            let candidates = line["candidates"]?.arrayValue ?? []
            #expect(line["model"] == "popularity" && !candidates.isEmpty && candidates.first == line["target"])
            #expect(line["scores"]?.arrayValue?.count == candidates.count)
        }
        let refused = try Self.run(["eval", "--data", out, "--quiet", "--write-scores", "/nonexistent/directory/scores.jsonl"])
        #expect(refused.status != 0 && refused.stdout.isEmpty)
        #expect(refused.stderr.contains("--write-scores: cannot write into /nonexistent/directory"))
    }

    @Test func errorsAreOneClearLineAndNonZeroStatus() throws {
        let missing = try Self.run(["prepare", "--format", "amazon2018", "--reviews", "/nonexistent.json", "--out", "/tmp/x"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "llmrec: error: /nonexistent.json: no such file\n")
        let notDataset = try Self.run(["eval", "--data", "/tmp", "--quiet"])
        #expect(notDataset.status == 1)
        #expect(notDataset.stderr.hasPrefix("llmrec: error: /tmp: not a prepared dataset"))
        let badModel = try Self.run(["eval", "--data", "/tmp", "--model", "magic"])
        #expect(badModel.status == 1)
        #expect(badModel.stderr.contains("unknown model 'magic'"))
        let badFormat = try Self.run(["prepare", "--format", "csv", "--reviews", "x", "--out", "y"])
        #expect(badFormat.status != 0)
        #expect(badFormat.stderr.contains("csv"))
    }
}

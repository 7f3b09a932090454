import Checkpoints
import Foundation
import Numerics
import Testing

/// Fixture paths, expected values and scratch files for the Checkpoints tests.
///
/// The fixtures and `expected.json` are written by `scripts/make-checkpoint-fixtures.py` with torch
/// and safetensors; regenerate with
/// `python3 scripts/make-checkpoint-fixtures.py Tests/CheckpointsTests/Fixtures`.
enum Support {
    /// One tensor as `expected.json` describes it: Float32 bit patterns or Int64 values, row-major.
    struct ExpectedTensor {
        let name: String
        let dtype: String
        let shape: [Int]
        let floatBits: [UInt32]?
        let integers: [Int64]?
    }

    static func fixture(_ name: String) -> String {
        Bundle.module.resourcePath! + "/Fixtures/" + name
    }

    static func fixtureBytes(_ name: String) -> [UInt8] {
        Array(FileManager.default.contents(atPath: fixture(name)) ?? Data())
    }

    /// The tensors of fixture `file`, in saved order, and its metadata (empty when it has none).
    static func expected(_ file: String) throws -> (tensors: [ExpectedTensor], metadata: [String: String]) {
        let data = try #require(FileManager.default.contents(atPath: fixture("expected.json")))
        let all = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let entry = try #require(all[file] as? [String: Any], "expected.json has no \(file)")
        let tensors = try #require(entry["tensors"] as? [[String: Any]])
        return (
            try tensors.map { tensor in
                ExpectedTensor(
                    name: try #require(tensor["name"] as? String), dtype: try #require(tensor["dtype"] as? String),
                    shape: try #require(tensor["shape"] as? [Int]),
                    floatBits: (tensor["float32_bits"] as? [NSNumber])?.map(\.uint32Value),
                    integers: (tensor["int64"] as? [NSNumber])?.map(\.int64Value))
            },
            entry["metadata"] as? [String: String] ?? [:]
        )
    }

    /// A fresh, empty directory under the system's temporary directory.
    static func scratchDirectory(_ label: String = #function) -> String {
        let path = NSTemporaryDirectory() + "llmrec-tests-\(label.filter(\.isLetter))-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes `bytes` to `directory/name` and returns the path.
    static func write(_ bytes: [UInt8], to directory: String, name: String) -> String {
        let path = directory + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Whether `tensor` holds exactly the expected values, compared bit for bit.
    static func matches(_ tensor: Tensor, _ expected: ExpectedTensor) -> Bool {
        guard tensor.shape == expected.shape else { return false }
        if let bits = expected.floatBits { return tensor.storage.map(\.bitPattern) == bits }
        if let integers = expected.integers { return tensor.storage == integers.map(Float.init) }
        return false
    }

    /// Where the data of stored zip entry `entry` lies in `bytes`, found by its local header.
    static func entryRange(_ entry: String, in bytes: [UInt8]) -> Range<Int>? {
        let name = Array(entry.utf8)
        for start in 0..<(bytes.count - 30 - name.count)
        where bytes[start..<start + 4].elementsEqual([0x50, 0x4B, 0x03, 0x04])
            && bytes[start + 30..<start + 30 + name.count].elementsEqual(name) {
            func field(_ offset: Int, _ width: Int) -> Int {
                (offset..<offset + width).reversed().reduce(0) { $0 << 8 | Int(bytes[start + $1]) }
            }
            let dataStart = start + 30 + name.count + field(28, 2)
            return dataStart..<dataStart + field(18, 4)
        }
        return nil
    }
}

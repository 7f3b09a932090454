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
        try! Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Whether `tensor` holds exactly the expected values, compared bit for bit.
    static func matches(_ tensor: Tensor, _ expected: ExpectedTensor) -> Bool {
        guard tensor.shape == expected.shape else { return false }
        if let bits = expected.floatBits { return tensor.storage.map(\.bitPattern) == bits }
        if let integers = expected.integers { return tensor.storage == integers.map(Float.init) }
        return false
    }

    /// Where the data of stored zip entry `entry` lies in `bytes`, from its central-directory record
    /// (torch.save writes zero sizes in local headers and puts them in data descriptors).
    static func entryRange(_ entry: String, in bytes: [UInt8]) -> Range<Int>? {
        func field(_ offset: Int, _ width: Int) -> Int {
            (offset..<offset + width).reversed().reduce(0) { $0 << 8 | Int(bytes[$1]) }
        }
        let name = Array(entry.utf8)
        for record in 0..<(bytes.count - 46 - name.count)
        where field(record, 4) == 0x0201_4B50 && bytes[record + 46..<record + 46 + name.count].elementsEqual(name) {
            let local = field(record + 42, 4)
            let start = local + 30 + field(local + 26, 2) + field(local + 28, 2)
            return start..<start + field(record + 20, 4)
        }
        return nil
    }
}

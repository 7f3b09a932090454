import Foundation
import JSON

/// Errors loading a prepared dataset directory.
public enum DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    case notADatasetDirectory(path: String)
    case unsupportedVersion(path: String, found: Int64, supported: Int64)
    case malformedFile(path: String, line: Int, reason: String)
    case inconsistent(path: String, reason: String)

    public var description: String {
        switch self {
        case .notADatasetDirectory(let path):
            return "\(path): not a prepared dataset (no dataset.json; run `llmrec prepare` first)"
        case .unsupportedVersion(let path, let found, let supported):
            return "\(path): dataset format version \(found), this llmrec reads version \(supported)"
        case .malformedFile(let path, let line, let reason): return "\(path):\(line): \(reason)"
        case .inconsistent(let path, let reason): return "\(path): \(reason)"
        }
    }
}

/// A prepared dataset as the models and the evaluator use it: leave-one-out splits and the catalog.
///
/// Directory layout (written by `DatasetPreparer`, version 1):
/// - `dataset.json`: format version, counts, source, options and a fingerprint of the splits.
/// - `stats.json`: counts before and after every filter, malformed input lines.
/// - `interactions.tsv`: `user item timestamp_ms rating` for every kept interaction, users ascending,
///   each user's rows in time order; equal timestamps keep the order of the input file.
/// - `users.tsv`, `items.tsv`: `id original_id`, dense 1-based ids.
/// - `catalog.jsonl`: one `CatalogItem` per line, ids ascending.
/// - `train.tsv`, `valid.tsv`, `test.tsv`: `user item timestamp_ms`, the leave-one-out split: a user with
///   n >= 3 interactions has the last in test, the one before in valid, the rest in train; a user with
///   fewer has all of them in train.
/// - `cold-items.tsv` (only with `prepare --cold-items` or `--cold-validation-items`): `item split`,
///   the items held out of every split (strict cold start) and whose cold20 cases they serve, `valid`
///   or `test` (a file without the column holds test items only); the leave-one-out split runs over
///   each user's other interactions.
public struct PreparedDataset: Sendable {
    public static let formatVersion: Int64 = 1

    public let directory: String
    public let userCount: Int
    public let itemCount: Int
    /// `train[user]`: the user's training items, oldest first. Index 0 is unused (ids are 1-based).
    public let train: [[Int32]]
    /// `valid[user]`, `test[user]`: the held-out item, or 0 when the user has none.
    public let valid: [Int32]
    public let test: [Int32]
    public let catalog: Catalog
    /// Hex FNV-1a-64 of the split files: identifies the data models were trained on.
    public let fingerprint: String
    /// Items held out of every split (empty unless prepared with `--cold-items` or
    /// `--cold-validation-items`): no training draws them, not even as a negative.
    public let coldItems: Set<Int32>
    /// The held-out items the validation split's cold20 cases draw on (a subset of `coldItems`,
    /// empty unless prepared with `--cold-validation-items`); the others are the test split's.
    public let coldValidationItems: Set<Int32>

    /// Loads `directory`, checking that splits and catalog agree with `dataset.json`.
    public init(directory: String) throws {
        self.directory = directory
        let manifestPath = directory + "/dataset.json"
        guard let manifestData = FileManager.default.contents(atPath: manifestPath) else {
            throw DatasetError.notADatasetDirectory(path: directory)
        }
        let manifest: JSONValue
        do { manifest = try JSONValue.parse(Array(manifestData)) } catch {
            throw DatasetError.malformedFile(path: manifestPath, line: error.line, reason: error.message)
        }
        let version = manifest["formatVersion"]?.intValue ?? 0
        guard version == Self.formatVersion else {
            throw DatasetError.unsupportedVersion(path: manifestPath, found: version, supported: Self.formatVersion)
        }
        guard let users = manifest["users"]?.intValue, let items = manifest["items"]?.intValue, users >= 0, items >= 0 else {
            throw DatasetError.inconsistent(path: manifestPath, reason: "missing user or item count")
        }
        userCount = Int(users)
        itemCount = Int(items)
        fingerprint = manifest["fingerprint"]?.stringValue ?? ""

        var train = [[Int32]](repeating: [], count: userCount + 1)
        try Self.readSplit(directory + "/train.tsv", users: userCount, items: itemCount) { user, item in
            train[Int(user)].append(item)
        }
        var valid = [Int32](repeating: 0, count: userCount + 1)
        try Self.readSplit(directory + "/valid.tsv", users: userCount, items: itemCount) { user, item in
            valid[Int(user)] = item
        }
        var test = [Int32](repeating: 0, count: userCount + 1)
        try Self.readSplit(directory + "/test.tsv", users: userCount, items: itemCount) { user, item in
            test[Int(user)] = item
        }
        self.train = train
        self.valid = valid
        self.test = test
        var coldItems = Set<Int32>()
        var coldValidationItems = Set<Int32>()
        let coldPath = directory + "/cold-items.tsv"
        let catalogSize = Int(items)
        if FileManager.default.fileExists(atPath: coldPath) {
            try LineReader(path: coldPath).forEachLine { line, number, _ in
                guard number > 1, !line.isEmpty else { return }
                let fields = String(decoding: line, as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
                guard fields.count <= 2, let item = Int32(fields[0]), item >= 1, Int(item) <= catalogSize else {
                    throw DatasetError.malformedFile(path: coldPath, line: number, reason: "expected an item id in 1...\(catalogSize)")
                }
                switch fields.count == 2 ? fields[1] : "test" {
                case "test": break
                case "valid": coldValidationItems.insert(item)
                default: throw DatasetError.malformedFile(path: coldPath, line: number, reason: "split must be valid or test, not '\(fields[1])'")
                }
                coldItems.insert(item)
            }
        }
        self.coldItems = coldItems
        self.coldValidationItems = coldValidationItems

        var catalogItems: [CatalogItem] = []
        catalogItems.reserveCapacity(itemCount)
        let catalogPath = directory + "/catalog.jsonl"
        try LineReader(path: catalogPath).forEachLine { line, number, _ in
            guard !line.isEmpty else { return }
            let json: JSONValue
            do throws(JSONParseError) { json = try JSONValue.parse(line) } catch {
                throw DatasetError.malformedFile(path: catalogPath, line: number, reason: error.message)
            }
            guard let item = CatalogItem(json: json), Int(item.id) == catalogItems.count + 1 else {
                throw DatasetError.malformedFile(
                    path: catalogPath, line: number, reason: "expected catalog item \(catalogItems.count + 1)")
            }
            catalogItems.append(item)
        }
        guard catalogItems.count == itemCount else {
            throw DatasetError.inconsistent(
                path: catalogPath, reason: "\(catalogItems.count) items, dataset.json says \(itemCount)")
        }
        catalog = Catalog(items: catalogItems)
    }

    /// Users that have a held-out test item, ascending.
    public var testUsers: [Int32] {
        (1...max(userCount, 1)).compactMap { $0 <= userCount && test[$0] != 0 ? Int32($0) : nil }
    }

    /// Every user's whole sequence, oldest first: train, then valid and test items when present.
    /// What a model serving live traffic learns from. Index 0 is unused.
    public var allSequences: [[Int32]] {
        (0..<train.count).map { user in
            var sequence = train[user]
            if valid[user] != 0 { sequence.append(valid[user]) }
            if test[user] != 0 { sequence.append(test[user]) }
            return sequence
        }
    }

    /// Every user's interactions with every item, held-out ones included, oldest first (from
    /// `interactions.tsv`; index 0 unused): where the cold-start protocol finds its cases.
    public func timelines() throws -> [[Int32]] {
        var timelines = [[Int32]](repeating: [], count: userCount + 1)
        try Self.readSplit(directory + "/interactions.tsv", users: userCount, items: itemCount) { user, item in
            timelines[Int(user)].append(item)
        }
        return timelines
    }

    /// Number of training interactions of each item (`[itemCount + 1]`, index 0 unused): the
    /// popularity that defines cold and warm items.
    public var trainingItemCounts: [Int] {
        var counts = [Int](repeating: 0, count: itemCount + 1)
        for sequence in train { for item in sequence { counts[Int(item)] += 1 } }
        return counts
    }

    /// `interacted` and every held-out item: what no training may draw as a negative, so that a
    /// held-out item meets a model first in evaluation.
    public func excludedFromNegatives(_ interacted: some Sequence<Int32>) -> Set<Int32> {
        coldItems.union(interacted)
    }

    /// Items with no training interaction (strictly cold: no collaborative signal learnt for them).
    public var itemsWithoutTrainingInteractions: Set<Int32> {
        let counts = trainingItemCounts
        return Set((1..<counts.count).filter { counts[$0] == 0 }.map { Int32($0) })
    }

    private static func readSplit(
        _ path: String, users: Int, items: Int, _ add: (Int32, Int32) -> Void
    ) throws {
        try LineReader(path: path).forEachLine { line, number, _ in
            guard number > 1, !line.isEmpty else { return }
            let fields = line.split(separator: UInt8(ascii: "\t"), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count >= 2,
                let user = Int32(String(decoding: fields[0], as: UTF8.self)),
                let item = Int32(String(decoding: fields[1], as: UTF8.self)),
                user >= 1, Int(user) <= users, item >= 1, Int(item) <= items
            else {
                throw DatasetError.malformedFile(path: path, line: number, reason: "expected user<TAB>item<TAB>timestamp_ms with ids in range")
            }
            add(user, item)
        }
    }
}

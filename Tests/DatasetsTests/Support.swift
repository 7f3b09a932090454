import Datasets
import Foundation
import Support
import Testing

/// Paths and scratch directories for the Datasets tests.
enum Support {
    /// A fixture written by `scripts/make-amazon-fixtures.py`.
    static func fixture(_ name: String) -> String {
        Bundle.module.resourcePath! + "/Fixtures/" + name
    }

    /// A fresh, empty directory under the system's temporary directory.
    static func scratchDirectory(_ label: String = #function) -> String {
        let path = NSTemporaryDirectory() + "llmrec-tests-\(label.filter(\.isLetter))-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Real MovieLens-100K from the asset cache; fails the test with the fix when it is missing.
    static func movieLensFiles() throws -> (inter: String, item: String) {
        let files = (AssetCache.movieLens100KInteractions, AssetCache.movieLens100KItems)
        try #require(
            FileManager.default.fileExists(atPath: files.0),
            "MovieLens-100K not in \(AssetCache.home); run scripts/fetch-assets.sh ml100k")
        return files
    }

    /// Prepares quietly into a scratch directory and loads the result.
    static func prepare(
        _ format: DatasetFormat, reviews: String, meta: String?, filters: FilterOptions = .init()
    ) throws -> (report: PrepareReport, dataset: PreparedDataset, directory: String) {
        let directory = scratchDirectory() + "/dataset"
        let report = try DatasetPreparer.run(PrepareOptions(
            format: format, reviewsPath: reviews, metaPath: meta, outputDirectory: directory, filters: filters,
            showProgress: false))
        return (report, try PreparedDataset(directory: directory), directory)
    }

    static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}

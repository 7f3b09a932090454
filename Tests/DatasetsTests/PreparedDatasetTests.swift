import Datasets
import Foundation
import JSON
import Testing

@Suite struct PreparedDatasetTests {
    /// An item's facets: the string values of its array metadata by field name, each once, without
    /// empty strings or "unknown"; other fields are not facets.
    @Test func facetsAreTheStringArrayMetadataValues() {
        let item = CatalogItem(
            id: 1, originalId: "1", title: "T", description: "",
            metadata: ["tags": ["Drama", "", "Comedy"], "genres": ["Comedy", "unknown", "Crime"], "year": 1995, "brand": "B", "sizes": [1, 2]])
        #expect(item.facets == ["Comedy", "Crime", "Drama"])
        #expect(CatalogItem(id: 2, originalId: "2", title: "T", description: "", metadata: [:]).facets.isEmpty)
    }

    @Test func refusesADirectoryThatIsNotADataset() {
        let directory = Support.scratchDirectory()
        #expect(throws: DatasetError.notADatasetDirectory(path: directory)) {
            try PreparedDataset(directory: directory)
        }
    }

    @Test func reportsTheFileAndLineOfDamage() throws {
        let (_, _, directory) = try Support.prepare(.amazon2018, reviews: Support.fixture("amazon2018_reviews.json"), meta: nil)
        let train = directory + "/train.tsv"
        try (Support.read(train) + "1\t99\t0\n").write(toFile: train, atomically: true, encoding: .utf8)
        #expect(throws: DatasetError.self) { try PreparedDataset(directory: directory) }
        do {
            _ = try PreparedDataset(directory: directory)
        } catch let error as DatasetError {
            guard case .malformedFile(let path, let line, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(path == train)
            #expect(line == 4)
        }
    }

    @Test func refusesAnotherFormatVersion() throws {
        let (_, _, directory) = try Support.prepare(.amazon2018, reviews: Support.fixture("amazon2018_reviews.json"), meta: nil)
        let manifest = directory + "/dataset.json"
        let text = Support.read(manifest).replacingOccurrences(of: "\"formatVersion\": 1", with: "\"formatVersion\": 9")
        try text.write(toFile: manifest, atomically: true, encoding: .utf8)
        #expect(throws: DatasetError.unsupportedVersion(path: manifest, found: 9, supported: 1)) {
            try PreparedDataset(directory: directory)
        }
    }
}

import Datasets
import JSON
import Recommender
import Testing

@Suite struct LiveCatalogTests {
    @Test func addedItemsTakeTheNextIds() throws {
        let catalog = LiveCatalog(base: MovieFixture.catalog)
        let added = try catalog.add([NewItem(title: "Robo Pup", metadata: ["class": ["Animation"]]), NewItem(title: "Quiet Lake")])
        #expect(added.map(\.id) == [9, 10])
        #expect(added.map(\.originalId) == ["added-9", "added-10"])
        #expect(catalog.count == 10)
        #expect(catalog[10]?.title == "Quiet Lake")
        #expect(catalog[11] == nil)
        #expect(!catalog.isPrepared(9) && catalog.isPrepared(8))
        #expect(catalog.unknownItems([1, 10, 11, 0, 11]) == [11, 0])
        #expect(catalog.vocabulary.facets(ofItem: 9) == ["animation"])
    }

    @Test func anAddedItemWithoutFacetsIsDescribedByTheFacetsItsTextNames() throws {
        let catalog = LiveCatalog(base: MovieFixture.catalog)
        let added = try catalog.add([
            NewItem(title: "Robo Pup", description: "An animated adventure about a robot dog."),
            NewItem(title: "Quiet Lake", metadata: ["class": ["Drama"]]),
        ])
        #expect(catalog.describedItem(added[0].id)?.metadata["facets"] == ["Animation", "Adventure", "Sci-Fi"])
        #expect(catalog.describedItem(added[1].id)?.metadata == ["class": ["Drama"]])
        #expect(catalog.describedItem(1) == MovieFixture.catalog[1])
    }

    @Test func aDuplicateOriginalIdAddsNothing() {
        let catalog = LiveCatalog(base: MovieFixture.catalog)
        #expect(throws: LiveCatalogError.duplicateOriginalId("m1")) {
            try catalog.add([NewItem(title: "New"), NewItem(title: "Again", originalId: "m1")])
        }
        #expect(catalog.count == MovieFixture.catalog.count)
    }

    @Test func replayMustFollowTheIds() throws {
        let catalog = LiveCatalog(base: MovieFixture.catalog)
        #expect(throws: LiveCatalogError.wrongId(expected: 9, got: 10)) { try catalog.add([NewItem(title: "Gap")], ids: [10]) }
        #expect(try catalog.add([NewItem(title: "Next")], ids: [9]).map(\.id) == [9])
    }
}

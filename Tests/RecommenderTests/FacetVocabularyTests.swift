import Datasets
import JSON
import Recommender
import Testing

@Suite struct FacetVocabularyTests {
    private let vocabulary = FacetVocabulary(catalog: MovieFixture.catalog)

    @Test func normalisesPossessivesHyphensAndContractions() {
        #expect(FacetVocabulary.normalise("Children's") == "children")
        #expect(FacetVocabulary.normalise("Sci-Fi!") == "sci fi")
        #expect(FacetVocabulary.normalise("I DON'T want  it") == "i dont want it")
        #expect(FacetVocabulary.normalise("a ten-year-old’s film") == "a ten year old film")
    }

    @Test func findsFacetsByNameAndByEverydayWords() {
        #expect(vocabulary.facets(in: "horror") == ["horror"])
        #expect(vocabulary.facets(in: "something funny and scary") == ["comedy", "horror"])
        #expect(vocabulary.facets(in: "science fiction") == ["sci fi"])
        #expect(vocabulary.facets(in: "for a ten year old") == ["children", "animation"])
        #expect(vocabulary.facets(in: "comedies") == ["comedy"])
        #expect(vocabulary.facets(in: "a quiet evening").isEmpty)
    }

    @Test func lexiconNeverInventsFacetsTheCatalogLacks() {
        // No Western, Musical or Documentary in the fixture: their everyday words name nothing.
        #expect(vocabulary.facets(in: "cowboys singing a true story").isEmpty)
        #expect(vocabulary.displayName("sci fi") == "Sci-Fi")
    }

    /// A capitalised catalog title names the item, not the facet one of its words says: "like Star
    /// Wars but funny" wants comedy, not war; in lower case, or as a genre word alone, it still
    /// names the facet, and a title that is itself a cue ("Love Story") stays a cue.
    @Test func aCapitalisedTitleIsNotAFacet() {
        func movie(_ id: Int32, _ title: String, _ genres: [String]) -> CatalogItem {
            CatalogItem(id: id, originalId: "\(id)", title: title, description: "", metadata: ["genres": .array(genres.map { .string($0) })])
        }
        let vocabulary = FacetVocabulary(catalog: Catalog(items: [
            movie(1, "Star Wars (1977)", ["Action", "Sci-Fi", "War"]), movie(2, "English Patient, The", ["Drama", "Romance", "War"]),
            movie(3, "Love Story", ["Romance"]), movie(4, "Airplane!", ["Comedy"]),
        ]))
        #expect(vocabulary.facets(in: "I want something like Star Wars but funny") == ["comedy"])
        #expect(vocabulary.facets(in: "no more Star Wars") == [])
        #expect(vocabulary.facets(in: "Something like The English Patient, but a war film") == ["war"])
        #expect(vocabulary.facets(in: "like English Patient") == [])
        #expect(vocabulary.facets(in: "star wars") == ["war"])
        #expect(vocabulary.facets(in: "Star wars please") == ["war"])
        #expect(vocabulary.facets(in: "a Love Story") == ["romance"])
        #expect(FacetVocabulary.titleForms("English Patient, The (1996)") == ["the english patient", "english patient"])
    }

    @Test func childrenRuleOutHorror() {
        #expect(vocabulary.impliedExclusions(of: ["children"]) == ["horror"])
        #expect(vocabulary.impliedExclusions(of: ["comedy"]).isEmpty)
    }

    @Test func itemFacetsIncludeAddedItems() {
        var vocabulary = self.vocabulary
        #expect(vocabulary.facets(ofItem: MovieFixture.id("Scream")) == ["horror", "thriller"])
        vocabulary.add(CatalogItem(id: 9, originalId: "x", title: "Robo Pup", description: "", metadata: ["class": ["Animation"]]))
        #expect(vocabulary.facets(ofItem: 9) == ["animation"])
        #expect(vocabulary.facets(ofItem: 42).isEmpty)
        vocabulary.add(CatalogItem(id: 10, originalId: "y", title: "Night Shift", description: "A scary, funny film.", metadata: [:]))
        #expect(vocabulary.facets(ofItem: 10) == ["horror", "comedy"])
    }
}

import Datasets
import JSON
import Recommender
import Testing

@Suite struct MessageInterpreterTests {
    private let interpreter = MessageInterpreter(vocabulary: FacetVocabulary(catalog: MovieFixture.catalog))

    @Test func negationTurnsTheRestOfTheClauseIntoAnExclusion() {
        let understood = interpreter.interpret("No more horror, please!")
        #expect(understood.exclusions == ["horror"])
        #expect(understood.excludedFacets == ["horror"])
        #expect(understood.preferences.isEmpty)
        #expect(understood.wantedFacets.isEmpty)
    }

    @Test func comparativeWithTheLastItemIsAReference() {
        let understood = interpreter.interpret("something lighter than the last one")
        #expect(understood.preferences == ["lighter"])
        #expect(understood.wantedFacets == ["comedy"])
        #expect(understood.reference == .differentFromLast)
        #expect(interpreter.interpret("more like the previous movie").reference == .similarToLast)
    }

    @Test func preferenceAndExclusionInOneSentence() {
        let understood = interpreter.interpret("I'd like comedies without romance")
        #expect(understood.wantedFacets == ["comedy"])
        #expect(understood.excludedFacets == ["romance"])
        let split = interpreter.interpret("space adventures, but not Star Trek")
        #expect(split.wantedFacets == ["sci fi", "adventure"])
        #expect(split.exclusions == ["star trek"])
        #expect(split.excludedFacets.isEmpty)
    }

    /// A catalog title written capitalised names the item, not its words' facets, through the
    /// interpreter's normalised clauses too ("like Star Wars" does not want War).
    @Test func aTitleWrittenCapitalisedWantsNoFacet() {
        func movie(_ id: Int32, _ title: String, _ genres: [String]) -> CatalogItem {
            CatalogItem(id: id, originalId: "\(id)", title: title, description: "", metadata: ["genres": .array(genres.map { .string($0) })])
        }
        let interpreter = MessageInterpreter(
            vocabulary: FacetVocabulary(catalog: Catalog(items: [movie(1, "Star Wars", ["Action", "Sci-Fi", "War"]), movie(2, "Airplane!", ["Comedy"])])))
        #expect(interpreter.interpret("I want something like Star Wars but funny").wantedFacets == ["comedy"])
        #expect(interpreter.interpret("No more Star Wars, please").excludedFacets.isEmpty)
        #expect(interpreter.interpret("star wars please").wantedFacets == ["war"])
        #expect(interpreter.interpret("Star Wars, and a war film").wantedFacets == ["war"])
    }

    @Test func anAudienceOfChildrenRulesOutHorror() {
        let understood = interpreter.interpret("for a ten-year-old")
        #expect(understood.preferences == ["ten year old"])
        #expect(understood.wantedFacets == ["children", "animation"])
        #expect(understood.excludedFacets == ["horror"])
    }

    @Test func fillerAloneSaysNothing() {
        let understood = interpreter.interpret("Show me something, please")
        #expect(understood == Understanding())
    }

    @Test func aSentenceEndsANegation() {
        let understood = interpreter.interpret("No horror. I want a comedy")
        #expect(understood.excludedFacets == ["horror"])
        #expect(understood.wantedFacets == ["comedy"])
        let comma = interpreter.interpret("no horror, something funny")
        #expect(comma.excludedFacets == ["horror"] && comma.wantedFacets == ["comedy"])
    }

    @Test func aListContinuesANegationUntilANewWish() {
        let listed = interpreter.interpret("avoid horror and romance, or thrillers")
        #expect(listed.excludedFacets == ["horror", "romance", "thriller"])
        #expect(listed.preferences.isEmpty)
        let wish = interpreter.interpret("no horror and something funny")
        #expect(wish.excludedFacets == ["horror"] && wish.wantedFacets == ["comedy"])
        let contrast = interpreter.interpret("no horror but comedies")
        #expect(contrast.excludedFacets == ["horror"] && contrast.wantedFacets == ["comedy"])
    }

    @Test func referencesInTheirUsualPhrasings() {
        #expect(interpreter.interpret("something similar to the last ones").reference == .similarToLast)
        #expect(interpreter.interpret("something different from the last ones").reference == .differentFromLast)
        #expect(interpreter.interpret("unlike the last film").reference == .differentFromLast)
        #expect(interpreter.interpret("something similar to the last ones").preferences.isEmpty)
    }
}

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
}

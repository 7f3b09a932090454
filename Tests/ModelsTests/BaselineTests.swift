import Models
import Testing

@Suite struct PopularityRecommenderTests {
    @Test func scoresAreTrainingCountsWhateverTheHistory() {
        let model = PopularityRecommender(trainingSequences: [[], [1, 2, 2], [2, 3]], itemCount: 4)
        #expect(model.scores(history: [], candidates: [1, 2, 3, 4]) == [1, 3, 1, 0])
        #expect(model.scores(history: [3, 3, 3], candidates: [4, 2]) == [0, 3])
        #expect(model.scores(history: [], candidates: [0, 99]) == [0, 0], "out-of-range ids score zero")
    }
}

@Suite struct CoOccurrenceRecommenderTests {
    // Sequences 1 -> 2 -> 3 and 1 -> 3 -> 4 with window 2:
    // transitions 1->2: 1, 1->3: 1/2 + 1, 2->3: 1, 3->4: 1, 1->4: 1/2 (from the second sequence).
    let model = CoOccurrenceRecommender(
        trainingSequences: [[], [1, 2, 3], [1, 3, 4]], itemCount: 5, window: 2, historyLength: 2)

    @Test func followsTransitionsFromTheMostRecentItems() {
        let scores = model.scores(history: [1], candidates: [2, 3, 4, 5])
        // Outgoing weight of 1 is 1 + 1.5 + 0.5 = 3.
        #expect(abs(scores[0] - 1.0 / 3) < 1e-5)
        #expect(abs(scores[1] - 1.5 / 3) < 1e-5)
        #expect(abs(scores[2] - 0.5 / 3) < 1e-5)
        #expect(scores[3] < 1e-6, "no transition: only the popularity tie-break")
    }

    @Test func olderHistoryItemsCountLess() {
        // History [2, 3]: 3 (weight 1) leads to 4; 2 (weight 1/2) leads to 3.
        let scores = model.scores(history: [2, 3], candidates: [3, 4])
        #expect(abs(scores[0] - 0.5) < 1e-5)
        #expect(abs(scores[1] - 1.0) < 1e-5)
    }

    @Test func unseenCandidatesAreOrderedByPopularity() {
        // Item 4 leads nowhere; training counts are 2: 1, 3: 2, 5: 0.
        let scores = model.scores(history: [4], candidates: [2, 3, 5])
        #expect(scores[1] > scores[0])
        #expect(scores[0] > scores[2])
        #expect(scores.allSatisfy { $0 < 1e-6 })
    }
}

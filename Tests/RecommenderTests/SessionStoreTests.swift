import Recommender
import Testing

@Suite struct SessionStoreTests {
    @Test func eventsBuildHistoryAndRejections() throws {
        var store = SessionStore()
        _ = try store.open(id: "a", history: [5, 6], at: 100)
        let session = try store.observe(
            id: "a", events: [.init(itemId: 7, kind: .bought), .init(itemId: 8, kind: .rejected), .init(itemId: 9, kind: .viewed)],
            at: 150)
        #expect(session.history == [5, 6, 7, 9])
        #expect(session.rejected == [8])
        #expect(session.events.count == 5)
        #expect(session.createdAt == 100)
        #expect(session.updatedAt == 150)
    }

    @Test func aMessageIsInterpretedNumberedAndItsAnswerRemembered() throws {
        var store = SessionStore()
        _ = try store.open(id: "a", history: [1], at: 0)
        let vocabulary = FacetVocabulary(catalog: MovieFixture.catalog)
        let (_, first) = try store.converse(id: "a", message: "something funny", vocabulary: vocabulary, at: 1)
        let (session, second) = try store.converse(id: "a", message: "no more horror please", vocabulary: vocabulary, at: 2)
        #expect((first.number, second.number) == (0, 1))
        #expect(second.sessionId == "a")
        #expect(second.record.understood.excludedFacets == ["horror"])
        #expect(session.conversation.turnCount == 2)
        store.recordAnswer("How about Babe?", to: first)
        #expect(try store.get(id: "a", at: 3).conversation.answeredTurns.map(\.answer) == ["How about Babe?"])
        #expect(throws: SessionError.notFound(id: "gone")) {
            try store.converse(id: "gone", message: "hi", vocabulary: vocabulary, at: 4)
        }
    }

    @Test func unknownAndDuplicateIdsAreTypedErrors() throws {
        var store = SessionStore()
        #expect(throws: SessionError.notFound(id: "x")) { try store.get(id: "x", at: 0) }
        _ = try store.open(id: "x", history: [], at: 0)
        #expect(throws: SessionError.alreadyExists(id: "x")) { try store.open(id: "x", history: [], at: 0) }
        try store.close(id: "x")
        #expect(throws: SessionError.notFound(id: "x")) { try store.close(id: "x") }
    }

    @Test func evictsTheLeastRecentlyUsedBeyondTheCap() throws {
        var store = SessionStore(maxSessions: 2)
        #expect(try store.open(id: "a", history: [], at: 0).isEmpty)
        #expect(try store.open(id: "b", history: [], at: 1).isEmpty)
        _ = try store.get(id: "a", at: 1)  // a is now more recent than b
        #expect(try store.open(id: "c", history: [], at: 2) == ["b"])
        #expect(store.count == 2)
        #expect(throws: SessionError.self) { try store.get(id: "b", at: 2) }
    }

    @Test func expiresIdleSessions() throws {
        var store = SessionStore(timeToLive: 60)
        _ = try store.open(id: "old", history: [], at: 0)
        _ = try store.open(id: "busy", history: [], at: 0)
        _ = try store.open(id: "read", history: [], at: 0)
        _ = try store.observe(id: "busy", events: [.init(itemId: 1, kind: .viewed)], at: 50)
        _ = try store.get(id: "read", at: 55)  // reading counts as activity
        let expired = store.expire(at: 100)
        #expect(expired == ["old"])
        #expect(store.count == 2)
    }

    @Test func expiryIsCheckedOnUseWithoutWaitingForASweep() throws {
        var store = SessionStore(timeToLive: 1)
        _ = try store.open(id: "a", history: [1], at: 0)
        let early = store.expireIfIdle(id: "a", at: 0.5)
        let late = store.expireIfIdle(id: "a", at: 1.6)
        #expect(!early)
        #expect(late)
        #expect(throws: SessionError.notFound(id: "a")) { try store.get(id: "a", at: 1.6) }
    }
}

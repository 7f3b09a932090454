import Datasets
import LLMRecProtocol
import Recommender

// Every conversion between the protocol's wire types (LLMRecProtocol) and the domain's
// (Datasets, Recommender) is here, in both directions where both are needed.

extension CatalogEntry {
    init(_ item: CatalogItem) {
        self.init(
            itemId: item.id, originalId: item.originalId, title: item.title, description: item.description,
            metadata: item.metadata)
    }
}

extension SessionEvent {
    init(_ event: SessionObserve.Event) {
        self.init(itemId: event.itemId, kind: InteractionKind(event.kind))
    }
}

extension InteractionKind {
    init(_ kind: SessionObserve.Kind) {
        switch kind {
        case .viewed: self = .viewed
        case .bought: self = .bought
        case .rejected: self = .rejected
        }
    }
}

extension SessionObserve.Kind {
    init(_ kind: InteractionKind) {
        switch kind {
        case .viewed: self = .viewed
        case .bought: self = .bought
        case .rejected: self = .rejected
        }
    }
}

extension SessionObserve.Response {
    init(_ session: Session) {
        self.init(sessionId: session.id, historyLength: session.history.count, rejectedCount: session.rejected.count)
    }
}

extension SessionGet.Response {
    init(_ session: Session) {
        self.init(
            sessionId: session.id, history: session.history,
            events: session.events.map { SessionObserve.Event(itemId: $0.itemId, kind: SessionObserve.Kind($0.kind)) },
            rejected: session.rejected.sorted(), createdAt: session.createdAt, updatedAt: session.updatedAt)
    }
}

extension NewItem {
    init(_ item: CatalogAdd.NewItem) {
        self.init(title: item.title, description: item.description, metadata: item.metadata, originalId: item.originalId)
    }
}

extension SessionMessage.Understood {
    /// What the interpreter understood, with facets by their display names.
    init(_ understood: Understanding, vocabulary: FacetVocabulary) {
        self.init(
            preferences: understood.preferences, exclusions: understood.exclusions,
            wantedFacets: understood.wantedFacets.map(vocabulary.displayName),
            excludedFacets: understood.excludedFacets.map(vocabulary.displayName), reference: understood.reference?.rawValue)
    }
}

extension SessionMessage.WordShift {
    /// The ranker's shift, titled from `catalog`.
    init(_ shift: WordShift, catalog: LiveCatalog) {
        func entries(_ ids: [Int32]) -> [Entry] { ids.map { Entry(itemId: $0, title: catalog[$0]?.title ?? "") } }
        self.init(lifted: entries(shift.lifted), lowered: entries(shift.lowered))
    }
}

extension SessionMessage.RankedItem {
    /// A blended engine's item, titled from `catalog`.
    init(_ item: RankedItem, catalog: LiveCatalog) {
        self.init(
            itemId: item.itemId, title: catalog[item.itemId]?.title ?? "", score: item.score,
            detail: .init(
                collaborative: item.collaborative, text: item.text, languageModel: item.languageModel,
                matchedFacets: item.matchedFacets, added: !catalog.isPrepared(item.itemId)))
    }
}

extension SessionMessage.Answer {
    init(_ answer: Answer) {
        self.init(
            text: answer.text, generatedTokens: answer.generatedTokens, promptTokens: answer.promptTokens,
            reusedTokens: answer.reusedTokens, firstTokenMilliseconds: answer.firstTokenMilliseconds,
            totalMilliseconds: answer.totalMilliseconds, finished: answer.finished)
    }
}

extension BlendWeights {
    /// `defaults` (the model set's: its bundle's tuned blend) with the request's weights over them.
    init(_ wire: SessionMessage.Weights, over defaults: BlendWeights) {
        self = defaults
        if let value = wire.collaborative { collaborative = Float(value) }
        if let value = wire.text { text = Float(value) }
        if let value = wire.facet { facet = Float(value) }
        if let value = wire.languageModel { languageModel = Float(value) }
    }
}

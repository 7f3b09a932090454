import Datasets
import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
import Logging
import Models
import Recommender
import Synchronization

/// The conversational methods: `session/message`, the blended `session/recommend`, `catalog/add`,
/// `model/status` and `model/load`. Parsing, session bookkeeping and journaling happen on the loop
/// thread; ranking, embedding and the LM run on the model lane; loading runs on the loading lane.
extension Daemon {
    /// The methods handled here, in the order `initialize` lists them (`registry`).
    static let conversationMethods: [MethodEntry] = [
        MethodEntry(SessionMessage.Request.self) { daemon, request, incoming in try daemon.sessionMessage(request, incoming) },
        MethodEntry(CatalogAdd.Request.self) { daemon, request, incoming in try daemon.catalogAdd(request, incoming) },
        MethodEntry(ModelStatus.Request.self) { daemon, _, _ in .success(daemon.modelStatus()) },
        MethodEntry(ModelLoad.Request.self) { daemon, request, incoming in daemon.modelLoad(request, incoming) },
    ]

    /// Whether `session/recommend` needs the blended engine rather than the collaborative model
    /// alone: words to rank for, an explanation, weights, a conversation so far, an LM path, or
    /// items added at run time (which only the text path can score).
    func usesBlendedRanking(_ parsed: SessionRecommend.Request, session: Session) -> Bool {
        parsed.query != nil || parsed.explain || parsed.weights != SessionMessage.Weights() || !session.conversation.isEmpty
            || models.ranker != nil || models.retrieval != nil || catalog.count > catalog.base.count
            || parsed.candidates?.contains(where: { !catalog.isPrepared($0) }) == true
    }

    func sessionMessage(_ parsed: SessionMessage.Request, _ request: IncomingRequest) throws -> Handling {
        let requestID = request.id
        let now = Date().timeIntervalSince1970
        try prepareSession(parsed.sessionId, at: now)
        let before = try store.get(id: parsed.sessionId, at: now)
        // Refused before anything is remembered: a message answered -32003 changes nothing.
        guard lanes[Self.modelLane].hasRoom else { return .failure(overloaded(Self.modelLane)) }
        var (session, turn) = try store.converse(id: parsed.sessionId, message: parsed.text, vocabulary: catalog.vocabulary, at: now)
        if let shared {
            try persistShared([SessionRecords.message(session.id, turn: turn.record, at: now)], before: before, using: shared)
            session = try store.get(id: parsed.sessionId, at: now)
            turn = turn.numbered(in: session)
        }
        let durable = journal.map { journal in
            (
                journal: JournalKind.sessions, sequence: journal.recordMessage(id: session.id, turn: turn.record, at: now),
                undo: { [unowned self] () -> Void in self.store.restore(before) }
            )
        }
        var excluded = Array(session.rejected)
        if parsed.excludeSeen { excluded += session.history }
        let blend = BlendRequest(
            history: session.history, memory: session.conversation, excluded: excluded, candidates: nil, k: parsed.k,
            weights: BlendWeights(parsed.weights, over: models.defaultWeights), sessionId: session.id)
        let ranker = ConversationRanker(models: models, catalog: catalog)
        let writer = parsed.answer ? answerWriter() : nil
        let wireUnderstood = SessionMessage.Understood(turn.record.understood, vocabulary: catalog.vocabulary)
        let earlierTurns = Array(session.conversation.answeredTurns)
        return submitToLane(
            Self.modelLane, request: request, durable: durable,
            finish: { [unowned self] (outcome: Result<SessionMessage.Response, ResponseError>) in
                if case .success(let result) = outcome, let answer = result.answer {
                    self.recordAnswer(answer.text, to: turn)
                }
                return outcome
            }
        ) { context -> Result<SessionMessage.Response, ResponseError> in
            guard let ranked = ranker.rank(blend, isCancelled: { context.isCancelled }) else { return .failure(.requestCancelled) }
            let items = ranked.items.map { SessionMessage.RankedItem($0, catalog: ranker.catalog) }
            var answer: SessionMessage.Answer?
            if let writer, !ranked.items.isEmpty {
                var index = 0
                do {
                    let written = try writer.answer(
                        session: parsed.sessionId, userText: parsed.text, items: ranked.items.compactMap { ranker.catalog.describedItem($0.itemId) },
                        grounds: ranker.models.grounds(of: ranked.items[0], history: blend.history, in: ranker.catalog),
                        maxTokens: parsed.maxAnswerTokens, earlierTurns: earlierTurns
                    ) { piece in
                        if parsed.stream {
                            context.notify(
                                method: SessionMessage.AnswerDelta.method,
                                params: SessionMessage.AnswerDelta(requestId: requestID, sessionId: parsed.sessionId, index: index, text: piece).json)
                            index += 1
                        }
                        return !context.isCancelled
                    }
                    answer = SessionMessage.Answer(written)
                } catch {
                    return .failure(.internalError("the LM could not answer: \(error)"))
                }
            }
            if context.isCancelled { return .failure(.requestCancelled) }
            // After the answer: the pass without the words must not delay its first piece.
            var understood = wireUnderstood
            understood.shift = ranker.wordShift(of: ranked, request: blend).map { SessionMessage.WordShift($0, catalog: ranker.catalog) }
            return .success(SessionMessage.Response(
                sessionId: parsed.sessionId, understood: understood, items: items, answer: answer,
                excludedByStatement: ranked.excludedByStatement, languageModelRanked: ranked.languageModelRanked,
                languageModelReusedTokens: ranked.languageModelReusedTokens, retrievalMilliseconds: ranked.retrievalMilliseconds,
                languageModelMilliseconds: ranked.languageModelMilliseconds))
        }
    }

    /// Remembers the LM's answer to `turn`, in the journal or the shared store. The answer was
    /// already sent: a store that cannot take it loses only this memory (logged).
    private func recordAnswer(_ text: String, to turn: ConversationTurn) {
        let id = turn.sessionId
        guard let shared else {
            store.recordAnswer(text, to: turn)
            journal?.recordAnswer(id: id, turn: turn.number, text: text)
            return
        }
        do {
            if shared.sessions.hasQueuedChanges(id) { flushQueuedSharedChanges() }
            try shared.sessions.refresh(id, in: &store)
            guard let before = try? store.get(id: id, at: Date().timeIntervalSince1970) else { return }
            store.recordAnswer(text, to: turn)
            try persistShared([SessionRecords.answer(id, turn: turn.number, text: text)], before: before, using: shared)
        } catch {
            log(.warning, "session \(id): the answer to turn \(turn.number) could not be stored (\(error))")
        }
    }

    /// `session/recommend` through the blended engine.
    func blendedRecommend(
        _ parsed: SessionRecommend.Request, session: Session, excluded: [Int32], incoming: IncomingRequest
    ) -> Handling {
        var memory = session.conversation
        if let query = parsed.query {
            memory.record(.init(text: query, understood: MessageInterpreter(vocabulary: catalog.vocabulary).interpret(query)))
        }
        let request = BlendRequest(
            history: session.history, memory: memory, excluded: excluded, candidates: parsed.candidates, k: parsed.k,
            weights: BlendWeights(parsed.weights, over: models.defaultWeights), sessionId: session.id)
        let ranker = ConversationRanker(models: models, catalog: catalog)
        let writer = parsed.explain ? answerWriter() : nil
        let recommender = engine.recommender.name
        let sessionId = session.id
        let earlierTurns = Array(session.conversation.answeredTurns)
        return submitToLane(Self.modelLane, request: incoming) { context -> Result<SessionRecommend.Response, ResponseError> in
            guard let ranked = ranker.rank(request, isCancelled: { context.isCancelled }) else { return .failure(.requestCancelled) }
            var explanation: SessionMessage.Answer?
            if let writer, !ranked.items.isEmpty {
                do {
                    let written = try writer.answer(
                        session: sessionId, userText: parsed.query ?? "What should I pick next?",
                        items: ranked.items.compactMap { ranker.catalog.describedItem($0.itemId) },
                        grounds: ranker.models.grounds(of: ranked.items[0], history: request.history, in: ranker.catalog), maxTokens: 80,
                        earlierTurns: earlierTurns, remember: false
                    ) { _ in !context.isCancelled }
                    explanation = SessionMessage.Answer(written)
                } catch {
                    return .failure(.internalError("the LM could not explain: \(error)"))
                }
            }
            return .success(SessionRecommend.Response(
                sessionId: sessionId, recommender: recommender,
                items: ranked.items.map { SessionMessage.RankedItem($0, catalog: ranker.catalog) },
                languageModelRanked: ranked.languageModelRanked, explanation: explanation))
        }
    }

    /// `catalog/add`: the items get ids at once (so every later request may name them) and are
    /// journaled; their text is embedded on the model lane, ahead of any later turn, and the answer
    /// waits for both. When the journal cannot store them they are withdrawn (their ids are given
    /// again) and the answer is `-32603`.
    func catalogAdd(_ parsed: CatalogAdd.Request, _ request: IncomingRequest) throws -> Handling {
        guard models.hasTextPath else {
            return .failure(LLMRecError.modelNotLoaded(
                "a text encoder (serve --encoder or a bundle naming one): added items are found through their text"))
        }
        guard lanes[Self.modelLane].hasRoom else { return .failure(overloaded(Self.modelLane)) }
        let newItems = parsed.items.map(NewItem.init)
        let added: [CatalogItem]
        if let shared {
            added = try shared.catalog.add(newItems, using: shared.connection)
        } else {
            do { added = try catalog.add(newItems) } catch {
                return .failure(InvalidParams(field: "items", message: error.description).responseError)
            }
        }
        let durable = catalogJournal.map { journal in
            (
                journal: JournalKind.catalog, sequence: journal.recordAdd(added),
                undo: { [catalog] () -> Void in catalog.withdraw(added) }
            )
        }
        let models = self.models
        let size = catalog.count
        return submitToLane(Self.modelLane, request: request, durable: durable) { context -> Result<CatalogAdd.Response, ResponseError> in
            guard !context.isCancelled else { return .failure(.requestCancelled) }
            models.prepare(added: added)
            return .success(CatalogAdd.Response(items: added.map(CatalogEntry.init), catalogSize: size))
        }
    }

    func modelStatus() -> ModelStatus.Response {
        let models = self.models
        let lm = models.languageModel
        let usage = models.chatCacheUsage
        var capabilities = ["collaborative"]
        if models.hasTextPath { capabilities.append("text") }
        if models.allmrec?.textMLP != nil && models.hasTextPath { capabilities.append("stage1-latent") }
        if let retrieval = models.retrieval {
            capabilities.append("retrieval")
            if retrieval.listens { capabilities.append("retrieval-words") }
        } else if models.ranker != nil {
            capabilities.append("lm-ranking")
        }
        if lm != nil { capabilities.append("answers") }
        return ModelStatus.Response(
            recommender: .init(name: engine.recommender.name, path: models.source.bundle ?? Self.checkpointPath(of: configuration.recommender)),
            encoder: models.encoder.map {
                .init(
                    name: "sentence-encoder", path: models.source.encoder,
                    detail: [
                        "dimension": .integer($0.dimension), "fingerprint": .string($0.fingerprint),
                        "precision": .string($0.encoder.precision.rawValue),
                    ])
            },
            languageModel: lm.map {
                let c = $0.decoder.configuration
                return .init(
                    name: c.family == .llama ? "llama" : "opt", path: models.source.languageModel,
                    detail: [
                        "layers": .integer(c.layers), "hiddenSize": .integer(c.hiddenSize), "vocabularySize": .integer(c.vocabularySize),
                        "weightBytes": .integer($0.decoder.weightBytes), "threads": .integer($0.decoder.threads),
                        "chat": .bool($0.usesChatML),
                    ])
            },
            bundle: models.source.bundle.map { path in
                var detail: JSONObject = ["retrieval": .bool(models.retrieval != nil)]
                if let allmrec = models.allmrec {
                    detail["stage2"] = .bool(allmrec.projectors != nil)
                    detail["template"] = .string(allmrec.manifest.template.fingerprint)
                }
                if let retrieval = models.retrieval {
                    detail["retrievalTemplate"] = .string(retrieval.model.builder.template.fingerprint)
                    detail["languageModelWeight"] = .number(Double(models.defaultWeights.languageModel))
                }
                return .init(name: models.allmrec != nil ? "allmrec" : "retrieval", path: path, detail: detail)
            },
            capabilities: capabilities, catalogSize: catalog.count, addedItems: catalog.count - catalog.base.count,
            modelBytes: models.residentModelBytes, chatCacheSessions: usage.sessions, chatCacheBytes: usage.bytes,
            residentMemoryBytes: ServerMetrics.residentMemoryBytes,
            loading: latestLoad.flatMap { load in
                lanes[Self.loadingLane].hasRoom ? nil
                    : ModelStatus.Loading(
                        bundle: load.request.bundle, languageModel: load.request.languageModel,
                        seconds: Double(DispatchTime.now().uptimeNanoseconds - load.startedAt) / 1e9)
            },
            loadSeconds: modelLoadSeconds, generation: modelGeneration)
    }

    /// `model/load`: loads on the loading lane; the swap and the answer happen on the loop thread
    /// when it is ready. One load at a time (a second gets `-32003`). A path that does not exist and
    /// one that holds no model get the same `-32013` answer naming only the part that failed (the
    /// reason, with paths and what the files hold, goes to the daemon's log).
    func modelLoad(_ parsed: ModelLoad.Request, _ incoming: IncomingRequest) -> Handling {
        let request = ModelSetRequest(
            recommender: configuration.recommender, bundle: parsed.bundle ?? models.source.bundle,
            languageModel: parsed.languageModel ?? (parsed.bundle == nil ? models.source.languageModel : nil),
            encoder: parsed.encoder ?? (parsed.bundle == nil ? models.source.encoder : nil))
        let slot = LoadedModelsSlot()
        let dataset = self.dataset
        let configuration = self.configuration
        let started = DispatchTime.now().uptimeNanoseconds
        let handling = submitToLane(
            Self.loadingLane, request: incoming,
            finish: { [unowned self] (outcome: Result<Void, ResponseError>) -> Result<ModelStatus.Response, ResponseError> in
                if case .failure(let error) = outcome { return .failure(error) }
                guard let loaded = slot.take() else { return .failure(LLMRecError.loadFailed("cannot load this model")) }
                self.models = loaded
                self.modelGeneration += 1
                self.modelLoadSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                log("model/load: now serving \(loaded.source.bundle ?? self.engine.recommender.name) (generation \(self.modelGeneration))")
                return .success(self.modelStatus())
            }
        ) { _ -> Result<Void, ResponseError> in
            do {
                slot.put(try ModelSetLoader.load(request, dataset: dataset, configuration: configuration))
                return .success(())
            } catch let error as ModelSetLoadError {
                log(.warning, "model/load failed: \(error)")
                return .failure(LLMRecError.loadFailed(error.summary))
            } catch {
                log(.warning, "model/load failed: \(error)")
                return .failure(LLMRecError.loadFailed("cannot load this model"))
            }
        }
        if case .deferred = handling { latestLoad = (request, started) }
        return handling
    }

    /// The `-32003` answer of a full lane.
    private func overloaded(_ lane: Int) -> ResponseError {
        LLMRecError.overloaded(lane: lanes[lane].name, capacity: lanes[lane].capacity)
    }

    /// The answer writer of the models in use, when they have an LM.
    private func answerWriter() -> AnswerWriter? {
        models.languageModel.map { AnswerWriter(models: models, languageModel: $0, itemNoun: configuration.itemNoun ?? models.itemNoun ?? "item") }
    }

    /// The checkpoint a recommender specification reads, if any.
    static func checkpointPath(of specification: ModelSpecification) -> String? {
        switch specification {
        case .sasrec(let path): return path
        case .allmrec(_, let bundle), .blend(_, let bundle), .retrieval(let bundle), .tunedBlend(let bundle, _), .sasrecText(let bundle): return bundle
        case .text(let encoder): return encoder
        case .popularity, .cooccurrence: return nil
        }
    }
}

/// Hands a loaded model set from the loading lane to the loop thread.
final class LoadedModelsSlot: Sendable {
    private let models = Mutex<ConversationModels?>(nil)

    func put(_ loaded: ConversationModels) { models.withLock { $0 = loaded } }

    func take() -> ConversationModels? { models.withLock { value in defer { value = nil }; return value } }
}

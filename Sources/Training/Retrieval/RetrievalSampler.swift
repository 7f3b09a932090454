import Datasets
import Models
import Numerics

/// What retrieval training learns from: every epoch's (user, target) samples in a seeded order, and
/// each sample's example (the user prompt of the history before the target, with the user's words
/// on a share of them, SASRec's user vector of that history, the positive and its negatives, never
/// an item the user had nor a held-out one).
/// Deterministic in the options' seed and the epoch; immutable.
public struct RetrievalSampler: Sendable {
    public let options: RetrievalOptions
    public let sasrec: SASRecModel
    public let builder: RetrievalPromptBuilder
    public let dataset: PreparedDataset
    /// The words of wish samples (with `options.wishes`).
    public let wishMaker: WishMaker
    let itemsWithoutInteractions: Set<Int32>

    public init(sasrec: SASRecModel, builder: RetrievalPromptBuilder, dataset: PreparedDataset, options: RetrievalOptions) {
        self.options = options
        self.sasrec = sasrec
        self.builder = builder
        self.dataset = dataset
        wishMaker = WishMaker(catalog: dataset.catalog, noun: builder.template.noun)
        itemsWithoutInteractions = dataset.itemsWithoutTrainingInteractions
    }

    /// One sample: a user and the offset of the target in the user's training sequence.
    public struct Sample: Sendable, Equatable {
        public var user: Int
        public var target: Int
    }

    /// The samples of `epoch` in training order.
    public func samples(epoch: Int) -> [Sample] {
        var users = (1...max(1, dataset.userCount)).filter { $0 < dataset.train.count && dataset.train[$0].count >= 2 }
        var generator = SplitMix64(seed: options.seed, stream: UInt64(epoch))
        users.shuffle(using: &generator)
        if let maxUsers = options.maxUsers { users = Array(users.prefix(maxUsers)) }
        var samples: [Sample] = []
        for user in users {
            let count = dataset.train[user].count
            switch options.targets {
            case .last: samples.append(Sample(user: user, target: count - 1))
            case .lastPositions(let k): samples += (max(1, count - k)..<count).map { Sample(user: user, target: $0) }
            }
        }
        samples.shuffle(using: &generator)
        return samples
    }

    /// The training examples of `samples` in `epoch` (deterministic).
    public func examples(_ samples: [Sample], epoch: Int) -> [RetrievalExample] {
        labelledExamples(samples, epoch: epoch).map(\.example)
    }

    /// The training examples of `samples` in `epoch` with the wish each carries (nil for none).
    public func labelledExamples(_ samples: [Sample], epoch: Int) -> [(example: RetrievalExample, wish: TrainingWish?)] {
        let windows = samples.map { Array(dataset.train[$0.user][..<$0.target].suffix(sasrec.configuration.maxLength)) }
        let teachers = sasrec.userRepresentations(windows)
        let itemCount = dataset.itemCount
        let allItems = (1...max(1, itemCount)).map { Int32($0) }
        return samples.indices.map { index in
            let sample = samples[index]
            let sequence = dataset.train[sample.user]
            let target = sequence[sample.target]
            let interacted = Set(sequence)
            let undrawable = dataset.excludedFromNegatives(interacted)
            var generator = SplitMix64(
                seed: options.seed ^ 0x5245_5452_4945_5645, stream: UInt64(epoch) << 40 | UInt64(sample.user) << 12 | UInt64(sample.target))
            var negatives: [Int32] = []
            let eligible = itemCount - undrawable.count
            let wanted = min(options.negativeCount, max(0, eligible))
            if options.negatives == .hard {
                let scores = sasrec.scores(user: teachers[index], candidates: allItems)
                let pool = allItems.indices.filter { !undrawable.contains(allItems[$0]) }.sorted { scores[$0] > scores[$1] }.prefix(50)
                    .map { allItems[$0] }
                negatives = Array(pool.shuffled(using: &generator).prefix(wanted))
            } else {
                while negatives.count < wanted {
                    let draw = Int32(generator.next() % UInt64(itemCount)) + 1
                    if !undrawable.contains(draw) && !negatives.contains(draw) { negatives.append(draw) }
                }
            }
            func candidate(_ item: Int32) -> RetrievalCandidate {
                let dropped = Float(generator.next() >> 40) / Float(1 << 24) < options.cfDropout
                return RetrievalCandidate(item: item, softToken: !dropped && !itemsWithoutInteractions.contains(item))
            }
            var positive = target
            var excludedFromNegatives = interacted
            var carried: TrainingWish?
            if options.wishes > 0, Float(generator.next() >> 40) / Float(1 << 24) < options.wishes,
                let wish = wishMaker.wish(for: target, generator: &generator)
            {
                // The user's best items (by SASRec) with (or without) what the wish names.
                func best(_ count: Int, having: Bool) -> [Int32] {
                    let pool = allItems.filter { wishMaker.item($0, has: wish) == having && !undrawable.contains($0) }
                    let scores = sasrec.scores(user: teachers[index], candidates: pool)
                    return pool.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : pool[$0] < pool[$1] }.prefix(count)
                        .map { pool[$0] }
                }
                switch wish.kind {
                case .facet, .era:
                    let lacking = best(wanted, having: false)
                    if !lacking.isEmpty {
                        carried = wish
                        negatives = lacking + negatives.filter { !lacking.contains($0) }.prefix(wanted - lacking.count)
                    }
                case .wrongFacet:
                    if let moved = best(1, having: true).first {
                        carried = wish
                        positive = moved
                        negatives = Array(([target] + negatives.filter { $0 != moved }).prefix(max(1, wanted)))
                        excludedFromNegatives.remove(target)
                    }
                case .negated:
                    let having = best(wanted, having: true)
                    if !having.isEmpty {
                        carried = wish
                        negatives = having + negatives.filter { !having.contains($0) }.prefix(wanted - having.count)
                    }
                }
            }
            let example = RetrievalExample(
                userPrompt: builder.userPrompt(
                    history: windows[index], wishes: carried?.text, withoutSoftToken: itemsWithoutInteractions,
                    userVector: teachers[index]),
                teacherInput: teachers[index], candidates: [candidate(positive)] + negatives.map(candidate), interacted: excludedFromNegatives,
                distils: carried == nil)
            return (example, carried)
        }
    }
}

import Numerics

/// A trained SASRec for inference: immutable weights, safe to share across threads. Each call
/// allocates its own small workspace.
public struct SASRecModel: SequentialRecommender {
    public let name = "sasrec"
    public let configuration: SASRecConfiguration
    public let layout: ParameterLayout
    /// All parameters, packed in `layout` order.
    public let weights: [Float]

    public init(parameters: SASRecParameters) {
        configuration = parameters.configuration
        layout = ParameterLayout(names: parameters.names, shapes: SASRecParameters.shapes(parameters.configuration))
        weights = layout.pack(parameters.tensors)
    }

    public init(configuration: SASRecConfiguration, layout: ParameterLayout, weights: [Float]) {
        self.configuration = configuration
        self.layout = layout
        self.weights = weights
    }

    /// The named tensors (for saving).
    public var parameters: SASRecParameters {
        // The layout was built from a valid configuration, so every name and shape is present.
        try! SASRecParameters(configuration: configuration, tensors: layout.unpack(weights))
    }

    /// The user representation of each history (oldest first): the last slot of `log_feats`
    /// (`mode='log_only'` in the original). [histories.count] vectors of `hiddenUnits`. Runs in
    /// chunks of at most 64 histories through one reused workspace. With `dropoutSeed`, dropout is
    /// active with masks drawn from that seed (the original computes A-LLMRec's training inputs with
    /// SASRec in train mode: `models/a_llmrec_model.py` of ghdtjr/A-LLMRec never calls `eval()` on it).
    public func userRepresentations(_ histories: [[Int32]], dropoutSeed: UInt64? = nil) -> [[Float]] {
        guard !histories.isEmpty else { return [] }
        let chunk = min(64, histories.count)
        let workspace = SASRecWorkspace(configuration: configuration, batch: chunk)
        let d = configuration.hiddenUnits
        let length = configuration.maxLength
        var generator = SplitMix64(seed: dropoutSeed ?? 0)
        var users: [[Float]] = []
        users.reserveCapacity(histories.count)
        for start in stride(from: 0, to: histories.count, by: chunk) {
            let part = Array(histories[start..<min(start + chunk, histories.count)])
            // A short last chunk leaves the remaining rows empty (all padding); their outputs are unused.
            Self.fill(workspace.sequence, with: part + Array(repeating: [], count: chunk - part.count), maxLength: length)
            weights.withUnsafeBufferPointer { buffer in
                SASRecNetwork.forward(
                    weights: buffer.baseAddress!, layout: layout, workspace: workspace, training: dropoutSeed != nil,
                    generator: &generator)
            }
            for index in 0..<part.count {
                let row = workspace.logFeatures + (index * length + length - 1) * d
                users.append(Array(UnsafeBufferPointer(start: row, count: d)))
            }
        }
        return users
    }

    /// ⟨user representation, E[item]⟩ for each candidate (item embeddings raw, not scaled by √d).
    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        let user = userRepresentations([history])[0]
        return scores(user: user, candidates: candidates)
    }

    /// One forward pass per 64 histories for the whole batch.
    public func scores(batch: [(history: [Int32], candidates: [Int32])]) -> [[Float]] {
        let users = userRepresentations(batch.map(\.history))
        return zip(users, batch).map { scores(user: $0, candidates: $1.candidates) }
    }

    /// Scores for a precomputed user representation.
    public func scores(user: [Float], candidates: [Int32]) -> [Float] {
        let d = configuration.hiddenUnits
        let table = layout.offset("item_emb.weight")
        return weights.withUnsafeBufferPointer { buffer in
            user.withUnsafeBufferPointer { userBuffer in
                candidates.map { candidate in
                    guard candidate >= 1, Int(candidate) <= configuration.itemCount else { return -.infinity }
                    return SASRecLoss.dot(userBuffer.baseAddress!, buffer.baseAddress! + table + Int(candidate) * d, d)
                }
            }
        }
    }

    /// Left-pads each history to `maxLength` slots keeping its most recent items (slot maxLength − 1
    /// is the newest); ids outside the catalog must have been rejected by the caller.
    public static func fill(_ sequence: UnsafeMutablePointer<Int32>, with histories: [[Int32]], maxLength: Int) {
        for (index, history) in histories.enumerated() {
            let row = sequence + index * maxLength
            row.update(repeating: 0, count: maxLength)
            let recent = history.suffix(maxLength)
            for (offset, item) in recent.enumerated() { row[maxLength - recent.count + offset] = item }
        }
    }
}

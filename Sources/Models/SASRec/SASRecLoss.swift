import Numerics

/// SASRec's training loss (ghdtjr/A-LLMRec `pre_train/sasrec/main.py`): for every position with a positive item,
/// BCE-with-logits of ⟨logFeatures, E[pos]⟩ against 1 plus of ⟨logFeatures, E[neg]⟩ against 0, each
/// averaged over those positions; plus `l2Embedding · ‖E‖_F` when non-zero (the original adds the
/// Frobenius norm itself, not its square).
public enum SASRecLoss {
    public struct Result: Sendable {
        public var loss: Float
        /// [rows] logits (meaningless where the positive is padding).
        public var positiveLogits: [Float]
        public var negativeLogits: [Float]
    }

    /// Computes the loss on `workspace.logFeatures`; writes dLogFeatures ([rows, d]) and accumulates the
    /// item-embedding gradient into `gradients`.
    /// - positives, negatives: [rows] item ids (0 where the position has no target).
    /// - validPositionsInBatch: when this workspace holds one shard of a larger batch, the number of
    ///   positions with a target in the whole batch, so that the shards' losses and gradients add
    ///   up to the whole batch's mean; nil for a whole batch. The L2 term belongs to one shard only
    ///   (pass 0 for the others).
    public static func forwardBackward(
        weights: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, layout: ParameterLayout,
        workspace w: SASRecWorkspace, positives: UnsafePointer<Int32>, negatives: UnsafePointer<Int32>,
        dLogFeatures: UnsafeMutablePointer<Float>, l2Embedding: Float = 0, validPositionsInBatch: Int? = nil
    ) -> Result {
        let d = w.configuration.hiddenUnits
        let rows = w.rows
        let table = weights + layout.offset("item_emb.weight")
        let dTable = gradients + layout.offset("item_emb.weight")
        var positiveLogits = [Float](repeating: 0, count: rows)
        var negativeLogits = [Float](repeating: 0, count: rows)
        var valid = [Float](repeating: 0, count: rows)
        for row in 0..<rows where positives[row] != 0 {
            valid[row] = 1
            positiveLogits[row] = dot(w.logFeatures + row * d, table + Int(positives[row]) * d, d)
            negativeLogits[row] = dot(w.logFeatures + row * d, table + Int(negatives[row]) * d, d)
        }
        var dPositive = [Float](repeating: 0, count: rows)
        var dNegative = [Float](repeating: 0, count: rows)
        let ones = [Float](repeating: 1, count: rows)
        let zeros = [Float](repeating: 0, count: rows)
        let localValid = valid.reduce(0, +)
        let share = validPositionsInBatch.map { $0 > 0 ? localValid / Float($0) : 0 } ?? 1
        var loss = share * Loss.binaryCrossEntropyWithLogits(
            logits: positiveLogits, targets: ones, weights: valid, count: rows, dlogits: &dPositive, scale: share)
        loss += share * Loss.binaryCrossEntropyWithLogits(
            logits: negativeLogits, targets: zeros, weights: valid, count: rows, dlogits: &dNegative, scale: share)
        dLogFeatures.update(repeating: 0, count: rows * d)
        for row in 0..<rows where valid[row] != 0 {
            let features = w.logFeatures + row * d
            let target = dLogFeatures + row * d
            let positive = table + Int(positives[row]) * d
            let negative = table + Int(negatives[row]) * d
            let dPositiveRow = dTable + Int(positives[row]) * d
            let dNegativeRow = dTable + Int(negatives[row]) * d
            for column in 0..<d {
                target[column] = dPositive[row] * positive[column] + dNegative[row] * negative[column]
                dPositiveRow[column] += dPositive[row] * features[column]
                dNegativeRow[column] += dNegative[row] * features[column]
            }
        }
        if l2Embedding != 0 {
            let count = layout.slots["item_emb.weight"]!.count
            var squares: Float = 0
            for index in 0..<count { squares += table[index] * table[index] }
            let norm = squares.squareRoot()
            loss += l2Embedding * norm
            if norm > 0 { for index in 0..<count { dTable[index] += l2Embedding * table[index] / norm } }
        }
        // padding_idx = 0: the padding row never learns.
        dTable.update(repeating: 0, count: d)
        return Result(loss: loss, positiveLogits: positiveLogits, negativeLogits: negativeLogits)
    }

    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var sum: Float = 0
        for index in 0..<count { sum += a[index] * b[index] }
        return sum
    }
}

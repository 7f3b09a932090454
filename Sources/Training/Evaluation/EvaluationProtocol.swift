/// Which candidates a test case ranks the target against.
public enum EvaluationProtocol: Sendable, Equatable, CustomStringConvertible {
    /// The target plus `negatives` items drawn uniformly from the items the user never interacted
    /// with. `candidates(negatives: 19)` is A-LLMRec's protocol (Hit@1 over 20 candidates).
    case candidates(negatives: Int)
    /// Every catalog item the user has not interacted with before the target, plus the target.
    case full
    /// Strict cold start, on a dataset prepared with `--cold-items` (`cold20`): one case per user
    /// who has one of the split's held-out items (`--cold-items` for test, `--cold-validation-items`
    /// for validation) after at least `minimumHistory` kept items; the first such item is the
    /// target, the history is the kept items before it, and the negatives are the split's held-out
    /// items the user never touched.
    case heldOutItems(negatives: Int, minimumHistory: Int)

    public static let coldStart = EvaluationProtocol.heldOutItems(negatives: 19, minimumHistory: 5)

    public static let allLLMRec = EvaluationProtocol.candidates(negatives: 19)

    /// Parses the names used on the command line: `candidates20`, `candidates100`, `full`, or
    /// `candidatesN` for any N >= 2 (N counts the target).
    public init?(name: String) {
        if name == "full" { self = .full; return }
        if name == "cold20" { self = .coldStart; return }
        guard name.hasPrefix("candidates"), let total = Int(name.dropFirst("candidates".count)), total >= 2 else {
            return nil
        }
        self = .candidates(negatives: total - 1)
    }

    public var description: String {
        switch self {
        case .candidates(let negatives): return "candidates\(negatives + 1)"
        case .full: return "full"
        case .heldOutItems(let negatives, _): return "cold\(negatives + 1)"
        }
    }
}

/// Which held-out item is the target.
public enum EvaluationSplit: String, Sendable, CaseIterable {
    /// Target = the user's test item; history = train + valid item.
    case test
    /// Target = the user's valid item; history = train. For tuning, never the test split.
    case valid
}

/// How test cases are split into cold and warm by the popularity of their target item, counted as
/// the item's number of interactions in the training split.
///
/// Defaults: cold <= 12 training interactions (the threshold of the project's reference PyTorch
/// run, `scripts/bench-sasrec.py`), warm >= 13, so every case is one or the other. Setting `warmAtLeast` above
/// `coldAtMost + 1` leaves a middle band that is in neither group (the paper-style split of the two
/// popularity extremes).
public struct ColdWarmThresholds: Sendable, Equatable {
    public var coldAtMost: Int
    public var warmAtLeast: Int

    public init(coldAtMost: Int = 12, warmAtLeast: Int = 13) {
        self.coldAtMost = coldAtMost
        self.warmAtLeast = warmAtLeast
    }
}

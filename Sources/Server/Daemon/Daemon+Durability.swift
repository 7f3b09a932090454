import JSON
import JSONRPC
import Logging
import Synchronization

/// Waiters for journal records: the loop thread changes the session store at once (so later
/// requests see the change) and answers the request only when the journal writer reports the
/// record durable. When a group of records fails, every change submitted from it on is undone,
/// newest first, and answered `-32603`; then the writer resumes.
///
/// Loop thread only.
struct DurabilityWaiters {
    struct Waiter {
        var sequence: UInt64
        /// Takes the change back out of memory when its record failed.
        var undo: (() -> Void)?
        /// Called once: nil when durable, the error when not.
        var resolved: (JournalError?) -> Void
    }

    /// In sequence order (records are submitted, and reported, in that order).
    private var waiters: [Waiter] = []
    /// Failures of records up to this sequence were already handled (the writer was told to
    /// resume after them).
    private var handledFailuresThrough: UInt64 = 0

    mutating func add(_ waiter: Waiter) { waiters.append(waiter) }

    var isEmpty: Bool { waiters.isEmpty }

    /// Applies one writer outcome; returns the waiters to resolve, in order, with their error, and
    /// whether the writer must be told to resume. Undo closures have already run.
    mutating func apply(_ outcome: JournalOutcome, latestSubmitted: UInt64) -> (resolved: [(Waiter, JournalError?)], resume: Bool) {
        guard let error = outcome.error else {
            let count = waiters.prefix { $0.sequence <= outcome.sequences.upperBound }.count
            let done = waiters.prefix(count).map { ($0, JournalError?.none) }
            waiters.removeFirst(count)
            return (done, false)
        }
        guard outcome.sequences.lowerBound > handledFailuresThrough else { return ([], false) }
        // Every record submitted so far, from the failed one on, is refused by the writer until it
        // resumes: undo all of their changes, newest first.
        let failed = waiters.filter { $0.sequence >= outcome.sequences.lowerBound }
        waiters.removeAll { $0.sequence >= outcome.sequences.lowerBound }
        for waiter in failed.reversed() { waiter.undo?() }
        handledFailuresThrough = latestSubmitted
        return (failed.map { ($0, error) }, true)
    }
}

/// Hands writer outcomes to the loop thread once its mailbox exists. Thread-safe.
final class JournalOutcomeRelay: Sendable {
    private let post = Mutex<(@Sendable (LaneEvent) -> Void)?>(nil)

    func connect(_ post: @escaping @Sendable (LaneEvent) -> Void) { self.post.withLock { $0 = post } }

    func report(_ outcome: JournalOutcome) {
        let post = self.post.withLock { $0 }
        post?(.journaled(outcome))
    }
}

extension Daemon {
    /// Answers `outcome` once journal record `sequence` is durable; undoes with `undo` and answers
    /// `-32603` when it is not. Returns the handling of a request answered later.
    func answerWhenDurable(
        _ sequence: UInt64, outcome: MethodOutcome, undo: @escaping () -> Void,
        request: IncomingRequest
    ) -> Handling {
        let client = request.client
        client.unacknowledged += 1
        durability[.sessions, default: DurabilityWaiters()].add(.init(sequence: sequence, undo: undo) { [unowned self, weak client] error in
            guard let client else { return }
            client.unacknowledged -= 1
            let answer = error.map { MethodOutcome.failure(.internalError("cannot persist the change: \($0)")) } ?? outcome
            self.reply(to: request, answer)
            self.afterRequestFinished(of: client)
        })
        return .deferred
    }

    /// A writer outcome (loop thread, through the mailbox).
    func journaled(_ outcome: JournalOutcome) {
        let writer = switch outcome.journal {
        case .sessions: journal?.writer
        case .catalog: catalogJournal?.writer
        }
        guard let writer else { return }
        let (resolved, resume) = durability[outcome.journal, default: DurabilityWaiters()]
            .apply(outcome, latestSubmitted: writer.latestSequence)
        if let error = outcome.error, resume { log(.error, "\(error); \(resolved.count) change(s) undone and refused") }
        for (waiter, error) in resolved { waiter.resolved(error) }
        if resume { writer.resume() }
    }
}

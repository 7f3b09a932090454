import Foundation
import Logging

/// The daemon's journals, each with its own writer and sequence numbers.
enum JournalKind: Sendable {
    case sessions
    case catalog
}

/// What a writer reports for a contiguous run of records: all of them durable (`error` nil) or
/// none of them (the file was cut back to where the run began).
struct JournalOutcome: Sendable {
    var journal: JournalKind
    var sequences: ClosedRange<UInt64>
    var error: JournalError?
}

/// Appends one journal file's records on a thread of its own, with group commit: every record that
/// arrived while the previous `fdatasync` ran is written with one `write` and synced with one
/// `fdatasync`, and only then reported durable. The loop thread therefore never waits for the
/// disk, and a flood of updates costs one sync per group, not one per update.
///
/// After a failed group the writer refuses every later record (reporting each as failed) until
/// the loop thread calls `resume()`: records submitted meanwhile describe changes made on top of
/// the failed ones, which the loop thread undoes before resuming.
///
/// `submit`, `replace`, `resume` and `stop` are called from the loop thread; `report` runs on the
/// writer thread, in sequence order.
final class JournalWriter: @unchecked Sendable {
    private enum Operation {
        case append(sequence: UInt64, bytes: [UInt8])
        case replace(bytes: [UInt8])
        case resume
    }

    let path: String
    let kind: JournalKind
    private let report: @Sendable (JournalOutcome) -> Void
    /// Guards `operations`, `stopping` and `lastSequence`.
    private let condition = NSCondition()
    private var operations: [Operation] = []
    private var stopping = false
    private var lastSequence: UInt64 = 0
    private let stopped = DispatchSemaphore(value: 0)
    /// Writer thread only.
    private var descriptor: Int32
    /// Set when a compaction replaced the file but it could not be opened again: appends must not
    /// go to the replaced file.
    private var descriptorIsStale = false
    private var failure: JournalError?

    /// Starts the writer on `descriptor`, an append descriptor of `path` it takes ownership of.
    init(kind: JournalKind, path: String, descriptor: Int32, report: @escaping @Sendable (JournalOutcome) -> Void) {
        self.kind = kind
        self.path = path
        self.descriptor = descriptor
        self.report = report
        let thread = Thread { [self] in run() }
        thread.name = "llmrec-journal"
        thread.start()
    }

    /// Queues `bytes` (whole lines) for appending; returns the record's sequence number, which
    /// `report` names when the record is durable or has failed.
    func submit(_ bytes: [UInt8]) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        lastSequence += 1
        operations.append(.append(sequence: lastSequence, bytes: bytes))
        condition.signal()
        return lastSequence
    }

    /// The sequence number of the latest record submitted (0 before the first).
    var latestSequence: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return lastSequence
    }

    /// Queues a compaction: once every record before it is durable, the file is replaced by
    /// `bytes` (`JournalFile.replace`). Skipped while records are being refused; a failed
    /// compaction leaves the file as it was and is logged.
    func replace(with bytes: [UInt8]) { enqueue(.replace(bytes: bytes)) }

    /// Accepts records again after a failure (see the type's comment).
    func resume() { enqueue(.resume) }

    /// Writes what is queued, stops the thread and closes the file; returns when it is done.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        stopped.wait()
    }

    private func enqueue(_ operation: Operation) {
        condition.lock()
        operations.append(operation)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while operations.isEmpty && !stopping { condition.wait() }
            let batch = operations
            operations = []
            let finished = stopping && batch.isEmpty
            condition.unlock()
            if finished { break }
            process(batch)
        }
        Glibc.close(descriptor)
        stopped.signal()
    }

    /// Runs a batch in order: consecutive appends form one group.
    private func process(_ batch: [Operation]) {
        var group: [(UInt64, [UInt8])] = []
        for operation in batch {
            switch operation {
            case .append(let sequence, let bytes):
                group.append((sequence, bytes))
            case .replace(let bytes):
                commit(group)
                group = []
                compact(bytes)
            case .resume:
                commit(group)
                group = []
                failure = nil
            }
        }
        commit(group)
    }

    private func commit(_ group: [(UInt64, [UInt8])]) {
        guard let first = group.first?.0, let last = group.last?.0 else { return }
        if failure == nil {
            do {
                if descriptorIsStale {
                    let reopened = try JournalFile.openForAppending(path, create: false)
                    Glibc.close(descriptor)
                    descriptor = reopened
                    descriptorIsStale = false
                }
                try JournalFile.append(Array(group.map(\.1).joined()), to: descriptor, path: path)
            } catch {
                failure = error
            }
        }
        report(JournalOutcome(journal: kind, sequences: first...last, error: failure))
    }

    private func compact(_ bytes: [UInt8]) {
        guard failure == nil else { return }
        do {
            try JournalFile.replace(path, with: bytes)
        } catch {
            log(.warning, "compaction skipped, the journal stays as it was: \(error)")
            return
        }
        do {
            let reopened = try JournalFile.openForAppending(path, create: false)
            Glibc.close(descriptor)
            descriptor = reopened
        } catch {
            descriptorIsStale = true
            log(.error, "\(error)")
        }
    }
}

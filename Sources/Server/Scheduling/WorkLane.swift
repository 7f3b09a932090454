import Foundation
import JSON
import JSONRPC
import Synchronization

/// Set by the loop thread when a request is cancelled; read by the lane between steps of its work.
public final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public var isCancelled: Bool { flag.load(ordering: .acquiring) }

    public func cancel() { flag.store(true, ordering: .releasing) }
}

/// What a job returns: its typed output (read back as its type by the request's `finish`), or an
/// error.
typealias LaneOutcome = Result<any Sendable, ResponseError>

/// What a lane hands back to the loop thread.
struct LaneCompletion: Sendable {
    var ticket: Int
    var lane: Int
    var outcome: LaneOutcome
}

/// What lanes post to the loop thread: a notification for the client of a running job (streamed
/// pieces, in order, before the job's completion), or the job's completion.
enum LaneEvent: Sendable {
    case notification(ticket: Int, method: String, params: JSONValue)
    case completed(LaneCompletion)
    /// The session journal's writer reports records durable or failed (not a lane's event, but the
    /// loop's one mailbox carries it).
    case journaled(JournalOutcome)
    /// Session changes are queued for the shared store (`--store`): append them, in one round trip,
    /// once the requests read in this turn of the loop are handled.
    case flushSharedChanges
}

/// What a job sees while it runs on a lane: its cancellation flag and a way to notify its client.
struct LaneJobContext: Sendable {
    let ticket: Int
    let cancellation: CancellationFlag
    let mailbox: LoopMailboxPoster

    var isCancelled: Bool { cancellation.isCancelled }

    /// Sends `method` with `params` to the job's client, unless the request was cancelled or
    /// answered meanwhile.
    func notify(method: String, params: JSONValue) {
        mailbox.post(.notification(ticket: ticket, method: method, params: params))
    }
}

/// A serial worker lane: jobs run one at a time, in submission order, on the lane's own queue, never
/// on the loop thread. The queue is bounded: `submit` refuses work when `capacity` jobs are already
/// waiting or running, so overload is an immediate, typed answer instead of a growing backlog.
///
/// `submit` and the counters are loop-thread only; the job runs on the lane.
final class WorkLane {
    let name: String
    let index: Int
    let capacity: Int
    private let queue: DispatchQueue
    private let running = RunningCount()
    /// Submitted and not yet completed (loop thread).
    private(set) var outstanding = 0

    init(name: String, index: Int, capacity: Int) {
        self.name = name
        self.index = index
        self.capacity = capacity
        queue = DispatchQueue(label: "llmrec.lane.\(name)", qos: .userInitiated)
    }

    var runningCount: Int { running.value }
    /// Whether `submit` would accept a job now (loop thread): handlers that change state before
    /// submitting check it first, so that a refused request changes nothing.
    var hasRoom: Bool { outstanding < capacity }
    var queuedCount: Int { max(0, outstanding - runningCount) }

    /// Runs `job` on the lane and posts its outcome (or `-32800` when cancelled before it started)
    /// to `mailbox` under `ticket`. Returns false, without running anything, when the lane is full.
    func submit(
        ticket: Int, cancellation: CancellationFlag, mailbox: LoopMailboxPoster,
        job: @escaping @Sendable (LaneJobContext) -> LaneOutcome
    ) -> Bool {
        guard outstanding < capacity else { return false }
        outstanding += 1
        let lane = index
        queue.async { [running] in
            let outcome: LaneOutcome
            if cancellation.isCancelled {
                outcome = .failure(.requestCancelled)
            } else {
                running.increment(by: 1)
                outcome = job(LaneJobContext(ticket: ticket, cancellation: cancellation, mailbox: mailbox))
                running.increment(by: -1)
            }
            mailbox.post(.completed(LaneCompletion(ticket: ticket, lane: lane, outcome: outcome)))
        }
        return true
    }

    /// Records a completion (loop thread).
    func completed() {
        outstanding -= 1
    }
}

/// Jobs running on a lane right now: written by the lane, read by the loop thread for status.
final class RunningCount: Sendable {
    private let count = Atomic<Int>(0)

    var value: Int { count.load(ordering: .relaxed) }

    func increment(by delta: Int) { count.add(delta, ordering: .relaxed) }
}

/// The one thing a lane needs from the daemon's mailbox: posting from its own thread.
struct LoopMailboxPoster: Sendable {
    let post: @Sendable (LaneEvent) -> Void
    func post(_ event: LaneEvent) { post(event) }
}

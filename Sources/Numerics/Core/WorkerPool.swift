import CKernels
import Foundation
import Synchronization

/// Persistent worker threads for the many tiny parallel loops of decoding (a token runs about 150
/// matrix-vector products of 20-100 µs each): a worker that just finished spins for a few
/// milliseconds waiting for the next job, so a job starts in well under a microsecond, where
/// waking a parked GCD thread costs tens. After that it parks on a condition variable, so an idle
/// process uses no CPU. One job runs at a time; concurrent callers queue.
public final class WorkerPool: Sendable {
    /// The process-wide pool, with one worker fewer than the machine has cores.
    public static let shared = WorkerPool(workers: max(1, ProcessInfo.processInfo.activeProcessorCount - 1))

    /// A pool for jobs of a millisecond or more (training's matrix products): its workers park after
    /// about 20 µs, so that between jobs they leave the cores to other threads (OpenBLAS's) instead
    /// of spinning for milliseconds.
    public static let bulk = WorkerPool(workers: max(1, ProcessInfo.processInfo.activeProcessorCount - 1), spinLimit: 500)

    /// One job: its body, its part count and its own counters, so that a worker still holding an
    /// older job can only find that job's parts all claimed.
    private final class Job: Sendable {
        let body: @Sendable (Int) -> Void
        let parts: Int
        let nextPart = Atomic<Int>(0)
        let finished = Atomic<Int>(0)

        init(body: @escaping @Sendable (Int) -> Void, parts: Int) {
            self.body = body
            self.parts = parts
        }

        /// Runs unclaimed parts until none is left.
        func claimParts() {
            while true {
                let part = nextPart.wrappingAdd(1, ordering: .relaxed).oldValue
                guard part < parts else { return }
                body(part)
                finished.wrappingAdd(1, ordering: .releasing)
            }
        }
    }

    public let workers: Int
    private let generation = Atomic<Int>(0)
    private let parked = Atomic<Int>(0)
    private let current = Mutex<Job?>(nil)
    private let submission = Mutex<Void>(())
    private let sleep = Condition()
    /// Spin iterations (each a `pause`, ~40 ns) before a worker parks.
    private let spinLimit: Int

    /// `spinLimit`: spins before an idle worker parks (the default, a few milliseconds, suits
    /// decoding's many short jobs).
    init(workers: Int, spinLimit: Int = 100_000) {
        self.workers = workers
        self.spinLimit = spinLimit
        for _ in 0..<workers {
            let thread = Thread { [unowned self] in self.work() }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body(part)` for part in 0..<parts, the caller taking parts too, and returns when all
    /// are done. With one part (or no workers) it runs inline.
    public func run(parts: Int, _ body: @escaping @Sendable (Int) -> Void) {
        guard parts > 1, workers > 0 else {
            for part in 0..<max(parts, 0) { body(part) }
            return
        }
        submission.withLock { _ in
            let job = Job(body: body, parts: parts)
            current.withLock { $0 = job }
            generation.wrappingAdd(1, ordering: .releasing)
            // A worker that parks just as this job is published misses the broadcast and sleeps
            // through it: the job still completes, the caller claiming every part left.
            if parked.load(ordering: .acquiring) > 0 { sleep.broadcast() }
            job.claimParts()
            while job.finished.load(ordering: .acquiring) < parts { llmrec_cpu_relax() }
            current.withLock { $0 = nil }
        }
    }

    /// Runs `body(item)` for item in 0..<items, at most `threads` threads at once (the caller one of
    /// them), each claiming the next unclaimed item when it finishes one, and returns when all are
    /// done: for items of uneven cost that outnumber the threads.
    public func run(items: Int, threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let parts = min(max(threads, 1), items, workers + 1)
        guard parts > 1 else {
            for item in 0..<max(items, 0) { body(item) }
            return
        }
        let claims = ItemClaims()
        run(parts: parts) { _ in
            while true {
                let item = claims.next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard item < items else { return }
                body(item)
            }
        }
    }

    private func work() {
        var seen = generation.load(ordering: .acquiring)
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < spinLimit {
                    llmrec_cpu_relax()
                    continue
                }
                parked.wrappingAdd(1, ordering: .releasing)
                sleep.wait(until: { self.generation.load(ordering: .acquiring) != seen })
                parked.wrappingSubtract(1, ordering: .releasing)
                spins = 0
            }
            seen = generation.load(ordering: .acquiring)
            current.withLock { $0 }?.claimParts()
        }
    }
}

/// A condition variable with its mutex (pthread), for parking workers.
private final class Condition: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    /// Waits until `ready()` holds (checked under the mutex, so a broadcast between the check and
    /// the wait is not lost).
    func wait(until ready: () -> Bool) {
        pthread_mutex_lock(&mutex)
        while !ready() { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    func broadcast() {
        pthread_mutex_lock(&mutex)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }
}

/// The next unclaimed item of `WorkerPool.run(items:threads:_:)`.
private final class ItemClaims: Sendable {
    let next = Atomic<Int>(0)
}

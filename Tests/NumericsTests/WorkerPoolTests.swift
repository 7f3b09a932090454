import Numerics
import Synchronization
import Testing

/// The decode worker pool: every part of every job runs exactly once, jobs from several threads
/// queue instead of mixing, and a pool left idle long enough to park still runs the next job.
@Suite struct WorkerPoolTests {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func add() { value.wrappingAdd(1, ordering: .relaxed) }
        var count: Int { value.load(ordering: .relaxed) }
    }

    @Test func everyPartRunsExactlyOnce() {
        let counts = Mutex([Int](repeating: 0, count: 5))
        for job in 0..<2_000 {
            let parts = 1 + job % 5
            WorkerPool.shared.run(parts: parts) { part in counts.withLock { $0[part] += 1 } }
        }
        let expected = (0..<5).map { part in (0..<2_000).filter { 1 + $0 % 5 > part }.count }
        #expect(counts.withLock { $0 } == expected)
    }

    @Test func concurrentCallersQueue() async {
        let total = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<500 { WorkerPool.shared.run(parts: 3) { _ in total.add() } }
                }
            }
        }
        #expect(total.count == 4 * 500 * 3)
    }

    @Test func runsAfterTheWorkersParked() async throws {
        WorkerPool.shared.run(parts: 2) { _ in }
        try await Task.sleep(for: .milliseconds(50))
        let done = Counter()
        WorkerPool.shared.run(parts: 4) { _ in done.add() }
        #expect(done.count == 4)
    }
}

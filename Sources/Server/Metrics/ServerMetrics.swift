import Foundation

/// Request counters and a latency window for `server/status`. Loop thread only.
struct ServerMetrics {
    private(set) var served = 0
    private(set) var failed = 0
    private(set) var cancelled = 0
    /// The latest request latencies in milliseconds (a ring of `windowSize`).
    private var latencies: [Double] = []
    private var next = 0
    private let windowSize = 8192

    mutating func record(milliseconds: Double, outcome: Outcome) {
        switch outcome {
        case .success: served += 1
        case .failure: failed += 1
        case .cancelled: cancelled += 1
        }
        if latencies.count < windowSize {
            latencies.append(milliseconds)
        } else {
            latencies[next] = milliseconds
            next = (next + 1) % windowSize
        }
    }

    enum Outcome {
        case success, failure, cancelled
    }

    /// p50, p90, p99 and max of the window (nearest-rank), in milliseconds; zeros when empty.
    var percentiles: (p50: Double, p90: Double, p99: Double, max: Double) {
        guard !latencies.isEmpty else { return (0, 0, 0, 0) }
        let sorted = latencies.sorted()
        func rank(_ p: Double) -> Double {
            sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
        }
        return (rank(0.5), rank(0.9), rank(0.99), sorted[sorted.count - 1])
    }

    /// A request body at least this large is followed by `returnFreedMemory`.
    static let largeMessageBytes = 1 << 20

    /// Hands the heap's free pages back to the system (glibc keeps them otherwise, so the resident
    /// size after a burst of connections or a large batch would stay at its peak).
    static func returnFreedMemory() {
        // glibc's malloc_trim, looked up at run time: Swift's Glibc module does not export it.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)(0)
    }

    /// Resident set size of this process, from /proc/self/statm.
    static var residentMemoryBytes: Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

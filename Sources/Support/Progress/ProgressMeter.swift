import Foundation

/// Reports the progress of a long job on stderr: done/total, rate and ETA, at most twice a second,
/// on one self-overwriting line when stderr is a terminal and as plain lines every 5 s otherwise.
///
/// Not thread-safe: call `update` from the thread that does the work.
public final class ProgressMeter {
    /// Shown before the figures; may change between updates (a running loss).
    public var label: String
    public let unit: ProgressUnit
    private var total: Int64
    private let started = Date()
    private var lastPrint = Date.distantPast
    private let interactive = isatty(2) != 0
    private let enabled: Bool
    private let start: Int64

    /// - total: the amount of work in `unit`s; 0 if unknown (no ETA is shown).
    /// - startingAt: units already done before this run (a resumed job): shown in the count, left
    ///   out of the rate.
    /// - enabled: false silences the meter (tests, `--quiet`).
    public init(label: String, total: Int64, unit: ProgressUnit, startingAt start: Int64 = 0, enabled: Bool = true) {
        self.label = label
        self.total = total
        self.unit = unit
        self.start = start
        self.enabled = enabled
    }

    /// Records that `done` units are finished (absolute, not incremental).
    public func update(_ done: Int64) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastPrint) >= (interactive ? 0.5 : 5) else { return }
        lastPrint = now
        emit(done, final: false)
    }

    /// Prints the final line with the total elapsed time.
    public func finish(_ done: Int64) {
        guard enabled else { return }
        total = max(total, done)
        emit(done, final: true)
    }

    private func emit(_ done: Int64, final: Bool) {
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(max(0, done - start)) / elapsed : 0
        var text = "\(label): \(unit.format(done))"
        if total > 0 { text += " / \(unit.format(total)) (\(Int(100 * Double(done) / Double(total)))%)" }
        text += ", \(unit.formatRate(rate))"
        if final {
            text += ", done in \(Self.formatDuration(elapsed))"
        } else if total > done, rate > 0 {
            text += ", ETA \(Self.formatDuration(Double(total - done) / rate))"
        }
        let line = interactive ? "\r\u{1B}[K" + text + (final ? "\n" : "") : text + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func formatDuration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        if whole < 60 { return String(format: "%.1fs", seconds) }
        if whole < 3600 { return "\(whole / 60)m\(String(format: "%02d", whole % 60))s" }
        return "\(whole / 3600)h\(String(format: "%02d", whole / 60 % 60))m"
    }
}

/// How a `ProgressMeter` prints amounts.
public enum ProgressUnit: Sendable {
    case bytes
    case items(String)

    func format(_ amount: Int64) -> String {
        switch self {
        case .bytes:
            let value = Double(amount)
            let kibibyte = 1024.0
            if value >= kibibyte * kibibyte * kibibyte { return String(format: "%.2f GiB", value / (kibibyte * kibibyte * kibibyte)) }
            if value >= kibibyte * kibibyte { return String(format: "%.1f MiB", value / (kibibyte * kibibyte)) }
            if value >= kibibyte { return String(format: "%.1f KiB", value / kibibyte) }
            return "\(amount) B"
        case .items(let noun): return "\(amount) \(noun)"
        }
    }

    /// A rate per second; slow item rates keep two decimals ("0.63 samples/s").
    func formatRate(_ rate: Double) -> String {
        switch self {
        case .items(let noun) where rate < 10: return String(format: "%.2f \(noun)/s", rate)
        default: return format(Int64(rate)) + "/s"
        }
    }
}

import Atomics

/// The answer-time histogram of one event loop, kept outside the Prometheus registry because it
/// is updated on every query.
///
/// Concurrency model: one writer (the loop) and any number of readers (scrapes). The loop adds
/// with a relaxed load and store, not a read-modify-write: nobody else writes, so no increment is
/// lost, and the loop pays for no locked instruction or lock (the swift-prometheus histogram
/// takes a lock per observation). A scrape loads each count relaxed; it may see one query in a
/// bucket but not yet in the sum, which Prometheus rates smooth over. Counts are per bucket and
/// made cumulative when written out.
final class AnswerTimeHistogram: Sendable {
    /// Upper bounds in nanoseconds, ascending.
    let bounds: [Int64]
    /// Per bucket (the last one is +Inf), not cumulative.
    private let counts: [ManagedAtomic<Int>]
    private let sumNanoseconds = ManagedAtomic<Int64>(0)

    init(bounds: [Duration]) {
        self.bounds = bounds.map { $0.components.seconds * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000 }
        counts = (0...bounds.count).map { _ in ManagedAtomic(0) }
    }

    /// Counts one answer; call only from the owning loop.
    @inline(__always)
    func record(nanoseconds: Int64) {
        var index = 0
        while index < bounds.count && nanoseconds > bounds[index] { index += 1 }
        let bucket = counts[index]
        bucket.store(bucket.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        sumNanoseconds.store(sumNanoseconds.load(ordering: .relaxed) &+ max(0, nanoseconds), ordering: .relaxed)
    }

    /// Cumulative counts per bound and the +Inf count, and the sum in nanoseconds.
    func read() -> (cumulative: [Int], sumNanoseconds: Int64) {
        var running = 0
        let cumulative = counts.map { count -> Int in
            running += count.load(ordering: .relaxed)
            return running
        }
        return (cumulative, sumNanoseconds.load(ordering: .relaxed))
    }

    /// Prometheus text lines for the histograms of every loop, as one metric family.
    static func exposition(name: String, help: String, loops: [(label: String, histogram: AnswerTimeHistogram)]) -> [UInt8] {
        var text = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (label, histogram) in loops {
            let (cumulative, sum) = histogram.read()
            for (index, bound) in histogram.bounds.enumerated() {
                text += "\(name)_bucket{loop=\"\(label)\",le=\"\(seconds(bound))\"} \(cumulative[index])\n"
            }
            text += "\(name)_bucket{loop=\"\(label)\",le=\"+Inf\"} \(cumulative[histogram.bounds.count])\n"
            text += "\(name)_sum{loop=\"\(label)\"} \(seconds(sum))\n"
            text += "\(name)_count{loop=\"\(label)\"} \(cumulative[histogram.bounds.count])\n"
        }
        return Array(text.utf8)
    }

    private static func seconds(_ nanoseconds: Int64) -> String {
        "\(Double(nanoseconds) / 1_000_000_000)"
    }
}

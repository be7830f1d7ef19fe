import NIOConcurrencyHelpers

/// Hits on monitor-mode lists, per list and per entry, for the compliance team (and for the
/// metrics endpoint to come).
///
/// Concurrency model: one lock around two dictionaries. Only queries that match a monitor list
/// take it, and those are forwarded anyway (a socket and an upstream round trip each), so the
/// lock is not on the path of blocked or unlisted names.
final class MonitorCounter: Sendable {
    struct Counts: Sendable {
        var perList: [String: Int] = [:]
        /// list name → entry name → hits
        var perEntry: [String: [String: Int]] = [:]
    }

    private let counts = NIOLockedValueBox(Counts())

    func record(list: String, entry: String) {
        counts.withLockedValue { counts in
            counts.perList[list, default: 0] += 1
            counts.perEntry[list, default: [:]][entry, default: 0] += 1
        }
    }

    var snapshot: Counts { counts.withLockedValue { $0 } }
}

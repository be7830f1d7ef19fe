import Atomics
import NIOCore

/// What the pool knows of one upstream's recent behaviour, shared by every event loop.
///
/// Concurrency model: plain atomics, updated once per upstream try (a forwarded query, never a
/// blocked or cached one), read when ordering the upstreams for a query. Races only make the
/// order or the smoothed latency a little stale, which is harmless.
final class UpstreamHealth: Sendable {
    /// Consecutive failed tries; reset by any answer.
    let failures = ManagedAtomic<Int>(0)
    /// While in the future (uptime nanoseconds), the upstream is down and tried last.
    let downUntil = ManagedAtomic<Int64>(0)
    /// Smoothed answer time in microseconds (7/8 old + 1/8 new); 0 until measured.
    let smoothedMicroseconds = ManagedAtomic<Int>(0)
    /// True while a background probe of a down upstream is scheduled.
    let probing = ManagedAtomic<Bool>(false)

    /// Tries in a row that fail before an upstream is marked down.
    static let failuresBeforeDown = 3

    /// Up until `failuresBeforeDown` tries in a row failed, and again from its next answer (the
    /// `dns_upstream_up` gauge).
    var isUp: Bool { failures.load(ordering: .relaxed) < Self.failuresBeforeDown }

    func isDown(now: NIODeadline) -> Bool {
        downUntil.load(ordering: .relaxed) > Int64(now.uptimeNanoseconds)
    }

    func recordSuccess(latency: TimeAmount) {
        failures.store(0, ordering: .relaxed)
        downUntil.store(0, ordering: .relaxed)
        let sample = max(1, Int(latency.nanoseconds / 1000))
        let old = smoothedMicroseconds.load(ordering: .relaxed)
        smoothedMicroseconds.store(old == 0 ? sample : (old * 7 + sample) / 8, ordering: .relaxed)
    }

    /// Counts a failure; returns true when this one marks the upstream down.
    func recordFailure(now: NIODeadline, downFor: TimeAmount) -> Bool {
        let count = failures.wrappingIncrementThenLoad(ordering: .relaxed)
        guard count >= Self.failuresBeforeDown, !isDown(now: now) else { return false }
        downUntil.store(Int64((now + downFor).uptimeNanoseconds), ordering: .relaxed)
        return true
    }
}

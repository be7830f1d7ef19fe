import Atomics
import NIOConcurrencyHelpers
import ResolverConfig

/// The upstream pool in use, for as long as the process runs: a reload that leaves the upstream
/// settings as they were keeps the very same pool (health, latency, round-robin turn); one that
/// changes them makes a new pool that keeps the target of every upstream still named.
///
/// Concurrency model: like `PolicyStore`, one atomic reference, replaced by the reload task only
/// (one reload at a time), and handed to every event loop, which keeps its own reference so that
/// a forwarded query reads no shared atomic.
final class UpstreamSet: Sendable {
    private let reference: ManagedAtomic<UpstreamPool>
    private let metrics: ResolverMetrics?
    /// How each event loop takes a new pool.
    private let subscribers = NIOLockedValueBox<[@Sendable (UpstreamPool) -> Void]>([])

    init(settings: ResolverSettings, metrics: ResolverMetrics? = nil) throws {
        reference = ManagedAtomic(try UpstreamPool(settings: settings, metrics: metrics))
        self.metrics = metrics
    }

    var current: UpstreamPool { reference.load(ordering: .acquiring) }

    /// Takes the upstream settings of a reloaded config. Returns false when they are unchanged
    /// (and nothing was replaced).
    func apply(_ settings: ResolverSettings) throws -> Bool {
        let old = current
        guard UpstreamPool.Settings(settings) != old.settings else { return false }
        let pool = try UpstreamPool(settings: settings, previous: old, metrics: metrics)
        reference.store(pool, ordering: .releasing)
        for adopt in subscribers.withLockedValue({ $0 }) { adopt(pool) }
        return true
    }

    /// Registers an event loop to be handed the current pool and every later one.
    func subscribe(_ adopt: @escaping @Sendable (UpstreamPool) -> Void) {
        subscribers.withLockedValue { $0.append(adopt) }
        adopt(current)
    }

    /// Records each upstream's state in its `dns_upstream_up` gauge (called when metrics are read).
    func recordHealth() {
        for target in current.targets { target.metrics?.up.record(target.health.isUp ? 1 : 0) }
    }
}

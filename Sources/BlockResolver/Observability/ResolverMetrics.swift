import CoreMetrics
import Foundation
import Metrics
import NIOConcurrencyHelpers
import Prometheus
import ResolverConfig

/// Every metric of the resolver, emitted through swift-metrics into one Prometheus registry that
/// the metrics endpoint serves.
///
/// Concurrency model: the per-query metrics (`LoopMetrics`) exist once per event loop, labelled
/// `loop`, so a query only touches its own loop's counters and histogram: no atomic or lock is
/// shared between loops on the query path (Prometheus sums over `loop`). Everything else
/// (upstreams, reloads, lists) is updated off the hot path.
final class ResolverMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let listMetrics = NIOLockedValueBox<[String: ListMetrics]>([:])
    let reloads = NIOLockedValueBox<[String: CoreMetrics.Counter]>([:])
    let generation: CoreMetrics.Gauge
    let lastReloadTime: CoreMetrics.Gauge
    let lastReloadSeconds: CoreMetrics.Gauge
    let lastReloadSuccess: CoreMetrics.Gauge
    /// Upstream queries sent and not yet answered (recorded when metrics are read).
    let inFlight: CoreMetrics.Gauge
    /// Entries of the answer cache, all loops together (recorded when metrics are read).
    let cacheEntries: CoreMetrics.Gauge
    /// Called before every exposition: gauges of state that lives elsewhere (the number of
    /// forwards in flight, cache entries, upstream health) are read then, not kept up per query.
    private let beforeExposition = NIOLockedValueBox<[@Sendable () -> Void]>([])

    static let answerBuckets: [Duration] = [
        .microseconds(20), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
        .seconds(5),
    ]

    init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = ["dns_upstream_duration_seconds": Self.answerBuckets]
        self.factory = factory
        generation = CoreMetrics.Gauge(label: "dns_policy_generation", dimensions: [], factory: factory)
        lastReloadTime = CoreMetrics.Gauge(label: "dns_last_reload_timestamp_seconds", dimensions: [], factory: factory)
        lastReloadSeconds = CoreMetrics.Gauge(label: "dns_last_reload_duration_seconds", dimensions: [], factory: factory)
        lastReloadSuccess = CoreMetrics.Gauge(label: "dns_last_reload_success", dimensions: [], factory: factory)
        inFlight = CoreMetrics.Gauge(label: "dns_upstream_queries_in_flight", dimensions: [], factory: factory)
        cacheEntries = CoreMetrics.Gauge(label: "dns_cache_entries", dimensions: [], factory: factory)
    }

    /// Runs `refresh` before each exposition.
    func refreshBeforeExposition(_ refresh: @escaping @Sendable () -> Void) {
        beforeExposition.withLockedValue { $0.append(refresh) }
    }

    /// The answer-time histogram of each loop (see `AnswerTimeHistogram`), by loop label.
    private let answerTimes = NIOLockedValueBox<[(label: String, histogram: AnswerTimeHistogram)]>([])

    func loop(_ index: Int) -> LoopMetrics {
        let histogram = AnswerTimeHistogram(bounds: Self.answerBuckets)
        answerTimes.withLockedValue { $0.append((String(index), histogram)) }
        return LoopMetrics(loop: index, factory: factory, answerTime: histogram)
    }

    /// The `dns_upstream_sockets` gauges of one loop's upstream UDP sockets, by family.
    func upstreamSockets(loop index: Int) -> (ipv4: CoreMetrics.Gauge, ipv6: CoreMetrics.Gauge) {
        let gauge = { (family: String) in
            CoreMetrics.Gauge(label: "dns_upstream_sockets", dimensions: [("loop", String(index)), ("family", family)],
                              factory: self.factory)
        }
        return (gauge("ipv4"), gauge("ipv6"))
    }

    /// The metrics of one list, made when a policy first names it.
    private struct ListMetrics: Sendable {
        let entries: CoreMetrics.Gauge
        /// 1 while the list serves the entries of an earlier load because its file is not fit to serve.
        let stale: CoreMetrics.Gauge
        /// Reloads that kept the list's previous entries for that reason.
        let kept: CoreMetrics.Counter
    }

    /// Entries per list, which lists serve stale entries (each reload that kept them counted), and
    /// the generation of the policy now served.
    func policyLoaded(generation number: Int, policy: CompiledPolicy) {
        generation.record(number)
        for (index, list) in policy.lists.enumerated() {
            let name = list.settings.name
            let metrics = listMetrics.withLockedValue { known in
                if let metrics = known[name] { return metrics }
                let metrics = ListMetrics(
                    entries: CoreMetrics.Gauge(label: "dns_list_entries", dimensions: [("list", name)], factory: factory),
                    stale: CoreMetrics.Gauge(label: "dns_list_stale", dimensions: [("list", name)], factory: factory),
                    kept: CoreMetrics.Counter(label: "dns_list_reload_kept_total", dimensions: [("list", name)],
                                              factory: factory))
                known[name] = metrics
                return metrics
            }
            metrics.entries.record(policy.entries(ofList: index))
            metrics.stale.record(list.keptPrevious ? 1 : 0)
            if list.keptPrevious { metrics.kept.increment() }
        }
        // A list taken out of the config serves nothing, stale or not: no alert for it.
        let served = Set(policy.lists.map(\.settings.name))
        for (name, metrics) in listMetrics.withLockedValue({ $0 }) where !served.contains(name) {
            metrics.stale.record(0)
        }
    }

    func reloadFinished(seconds: Double?, success: Bool) {
        lastReloadTime.record(Date().timeIntervalSince1970)
        if let seconds { lastReloadSeconds.record(seconds) }
        lastReloadSuccess.record(success ? 1 : 0)
        let result = success ? "success" : "failure"
        reloads.withLockedValue { counters in
            if counters[result] == nil {
                counters[result] = CoreMetrics.Counter(label: "dns_reloads_total", dimensions: [("result", result)], factory: factory)
            }
            return counters[result]!  // set just above
        }.increment()
    }

    /// The counters and histogram of one upstream.
    func upstream(_ name: String) -> UpstreamMetrics {
        UpstreamMetrics(
            queries: CoreMetrics.Counter(label: "dns_upstream_queries_total", dimensions: [("upstream", name)], factory: factory),
            failures: CoreMetrics.Counter(label: "dns_upstream_failures_total", dimensions: [("upstream", name)], factory: factory),
            duration: CoreMetrics.Timer(label: "dns_upstream_duration_seconds", dimensions: [("upstream", name)], factory: factory),
            up: CoreMetrics.Gauge(label: "dns_upstream_up", dimensions: [("upstream", name)], factory: factory)
        )
    }

    /// The Prometheus text exposition of everything.
    func exposition() -> [UInt8] {
        for refresh in beforeExposition.withLockedValue({ $0 }) { refresh() }
        return registry.emitToBuffer()
            + AnswerTimeHistogram.exposition(name: "dns_answer_duration_seconds",
                                             help: "Time from reading a query to having its answer, by event loop.",
                                             loops: answerTimes.withLockedValue { $0 })
    }
}

/// One upstream's metrics, updated once per try (the slow path).
struct UpstreamMetrics: Sendable {
    let queries: CoreMetrics.Counter
    let failures: CoreMetrics.Counter
    let duration: CoreMetrics.Timer
    /// 1 while the upstream answers, 0 once `UpstreamHealth.failuresBeforeDown` tries in a row failed.
    let up: CoreMetrics.Gauge
}

/// The per-query metrics of one event loop; only that loop touches them.
final class LoopMetrics {
    private let factory: PrometheusMetricsFactory
    private let loop: String
    /// By transport (udp, tcp, dot, doh: `Transport.index`) and outcome.
    private let queries: [[CoreMetrics.Counter]]
    private let answerTime: AnswerTimeHistogram
    private var blockedByList: [String: CoreMetrics.Counter] = [:]
    private var monitorByList: [String: CoreMetrics.Counter] = [:]
    let cacheHits: CoreMetrics.Counter
    let cacheMisses: CoreMetrics.Counter
    let cacheEvictions: CoreMetrics.Counter

    init(loop index: Int, factory: PrometheusMetricsFactory, answerTime: AnswerTimeHistogram) {
        self.factory = factory
        loop = String(index)
        let loop = self.loop
        queries = Transport.allCases.map(\.rawValue).map { transport in
            QueryOutcome.allCases.map { outcome in
                CoreMetrics.Counter(label: "dns_queries_total",
                        dimensions: [("protocol", transport), ("outcome", outcome.rawValue), ("loop", loop)],
                        factory: factory)
            }
        }
        self.answerTime = answerTime
        cacheHits = CoreMetrics.Counter(label: "dns_cache_hits_total", dimensions: [("loop", loop)], factory: factory)
        cacheMisses = CoreMetrics.Counter(label: "dns_cache_misses_total", dimensions: [("loop", loop)], factory: factory)
        cacheEvictions = CoreMetrics.Counter(label: "dns_cache_evictions_total", dimensions: [("loop", loop)], factory: factory)
    }

    @inline(__always)
    func count(_ outcome: QueryOutcome, transport: Transport, nanoseconds: Int64) {
        queries[transport.index][outcome.index].increment()
        answerTime.record(nanoseconds: nanoseconds)
    }

    /// Counters by list index for the policy generation `blockedGeneration`, so a blocked query
    /// finds its counter without hashing the list's name.
    private var blockedByIndex: [CoreMetrics.Counter?] = []
    private var blockedGeneration = -1

    @inline(__always)
    func blocked(listIndex: Int, trigger: PolicyMatch.Trigger, generation: Int, list: @autoclosure () -> ListSettings) {
        if generation != blockedGeneration {
            blockedGeneration = generation
            blockedByIndex = []
        }
        let index = listIndex * Self.triggers.count + (Self.triggers.firstIndex(of: trigger) ?? 0)
        if index < blockedByIndex.count, let counter = blockedByIndex[index] { return counter.increment() }
        let settings = list()
        if blockedByIndex.count <= index { blockedByIndex += Array(repeating: nil, count: index + 1 - blockedByIndex.count) }
        let counter = counterBlocked(list: settings.name, category: settings.category, trigger: trigger)
        blockedByIndex[index] = counter
        counter.increment()
    }

    /// The kinds of trigger, in the order of the counters kept per list.
    private static let triggers: [PolicyMatch.Trigger] = [.qname, .cname, .ip, .client]

    private func counterBlocked(list: String, category: String, trigger: PolicyMatch.Trigger) -> CoreMetrics.Counter {
        let key = "\(list)\u{0}\(trigger.rawValue)"
        if let counter = blockedByList[key] { return counter }
        let counter = CoreMetrics.Counter(label: "dns_blocked_total",
                                          dimensions: [("list", list), ("category", category), ("trigger", trigger.rawValue),
                                                       ("loop", loop)],
                                          factory: factory)
        blockedByList[key] = counter
        return counter
    }

    func monitored(list: String) {
        if let counter = monitorByList[list] { return counter.increment() }
        let counter = CoreMetrics.Counter(label: "dns_monitor_hits_total", dimensions: [("list", list), ("loop", loop)], factory: factory)
        monitorByList[list] = counter
        counter.increment()
    }
}

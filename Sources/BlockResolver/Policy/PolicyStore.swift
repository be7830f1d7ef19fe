import Atomics
import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import ResolverConfig

/// Holds the policy being served and replaces it on reload and when a schedule window turns.
///
/// Concurrency model: one atomic reference to an immutable `PolicySnapshot`. Readers (every
/// event loop, per query) do one atomic load and never lock; the writers (the reload task, one
/// reload at a time, and the schedule task) build the next snapshot completely off to the side
/// and publish it with one atomic compare-and-exchange. A failed build publishes nothing, so the
/// old policy keeps serving.
final class PolicyStore: Sendable {
    private let reference: ManagedAtomic<PolicySnapshot>
    private let loader: ConfigLoader
    /// Seconds since 1970; injected so that tests can move time.
    let clock: @Sendable () -> Double
    let metrics: ResolverMetrics?

    init(initial: PolicySnapshot.Parts, loader: ConfigLoader, metrics: ResolverMetrics? = nil,
         clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        reference = ManagedAtomic(PolicySnapshot(parts: initial, now: clock()))
        self.loader = loader
        self.metrics = metrics
        self.clock = clock
        metrics?.policyLoaded(generation: initial.generation, policy: initial.policy)
    }

    var current: PolicySnapshot { reference.load(ordering: .acquiring) }

    /// Re-reads the config file and its lists and publishes the result; on any failure keeps the
    /// current policy and returns the reason. A list whose file is not fit to serve keeps its
    /// previous entries while the rest is reloaded (`PolicyLoader`): a success, logged per list
    /// and counted. Not reentrant: callers run one reload at a time.
    func reload(logger: Logger) -> Result<PolicySnapshot, ReloadError> {
        reloading.withLock { reloadConfig(logger: logger) }
    }

    /// One reload at a time, whoever asks: SIGHUP's (`reload`) or a zone transfer's (`reloadLists`).
    private let reloading = NIOLock()

    private func reloadConfig(logger: Logger) -> Result<PolicySnapshot, ReloadError> {
        let old = current
        let started = DispatchTime.now().uptimeNanoseconds
        let settings: ResolverSettings
        do {
            settings = try loader.load(path: old.settings.configPath)
        } catch {
            metrics?.reloadFinished(seconds: nil, success: false)
            return .failure(ReloadError(message: error.description))
        }
        Self.warnAboutRestartOnlyChanges(old: old.settings, new: settings, logger: logger)
        let parts: PolicySnapshot.Parts
        do {
            let policy = try PolicyLoader(problemsKept: ListReport.problemsLogged).load(settings, previous: old.policy)
            parts = try PolicySnapshot.Parts(generation: old.generation + 1, settings: settings, policy: policy)
        } catch {
            metrics?.reloadFinished(seconds: nil, success: false)
            return .failure(ReloadError(message: "\(error)"))
        }
        let snapshot = PolicySnapshot(parts: parts, now: clock())
        publish(snapshot)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        metrics?.policyLoaded(generation: parts.generation, policy: parts.policy)
        metrics?.reloadFinished(seconds: seconds, success: true)
        logger.info("reloaded policy", metadata: [
            "generation": "\(parts.generation)",
            "entries": "\(parts.policy.entryCount)",
            "names": "\(parts.policy.table.uniqueCount)",
            "kept": "\(parts.policy.lists.filter(\.keptPrevious).count)",
            "seconds": "\(String(format3digits: seconds))",
        ])
        ListReport.log(parts.policy, logger: logger)
        return .success(snapshot)
    }

    /// Re-reads the lists of the settings in service, not the config file: what a zone transfer
    /// does once it has written its list's new copy. Unchanged files are not parsed again, so only
    /// the transferred zone is. Published like a reload; a failure keeps the current policy.
    /// `prepared`: a list already parsed from the file now at its path (a download), not parsed again.
    func reloadLists(logger: Logger, reason: String,
                     prepared: [String: (ParsedList, ListFile.Identity)] = [:]) -> Result<PolicySnapshot, ReloadError> {
        reloading.withLock {
            let old = current
            let started = DispatchTime.now().uptimeNanoseconds
            let parts: PolicySnapshot.Parts
            do {
                let policy = try PolicyLoader(problemsKept: ListReport.problemsLogged).load(old.settings, previous: old.policy,
                                                                                        prepared: prepared)
                parts = try PolicySnapshot.Parts(generation: old.generation + 1, settings: old.settings, policy: policy)
            } catch {
                metrics?.reloadFinished(seconds: nil, success: false)
                logger.error("cannot publish the lists; still serving the previous policy",
                             metadata: ["reason": "\(reason)", "error": "\(error)"])
                return .failure(ReloadError(message: "\(error)"))
            }
            let snapshot = PolicySnapshot(parts: parts, now: clock())
            publish(snapshot)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            metrics?.policyLoaded(generation: parts.generation, policy: parts.policy)
            metrics?.reloadFinished(seconds: seconds, success: true)
            logger.info("published lists", metadata: [
                "reason": "\(reason)", "generation": "\(parts.generation)",
                "names": "\(parts.policy.table.uniqueCount)", "seconds": "\(String(format3digits: seconds))",
            ])
            ListReport.log(parts.policy, logger: logger)
            return .success(snapshot)
        }
    }

    /// Publishes the current policy with `changes` made to list `name` (a zone transfer's delta,
    /// `CompiledPolicy.applying`): no file is read and nothing compiled again, and the new snapshot
    /// shares everything the delta does not change. Serialised with the reloads; a delta that does
    /// not fit publishes nothing and returns why.
    func applyDelta(list name: String, changes: [CompiledPolicy.NameChange], reason: String,
                    logger: Logger) -> Result<PolicySnapshot, CompiledPolicy.DeltaProblem> {
        reloading.withLock {
            let old = current
            let started = DispatchTime.now().uptimeNanoseconds
            guard let index = old.policy.lists.firstIndex(where: { $0.settings.name == name }) else {
                return .failure(.needsFullRead("the list \(name) is not in the policy served"))
            }
            let policy: CompiledPolicy
            do throws(CompiledPolicy.DeltaProblem) { policy = try old.policy.applying(changes, toList: index) } catch {
                return .failure(error)
            }
            let parts = PolicySnapshot.Parts(following: old.parts, policy: policy)
            let snapshot = PolicySnapshot(parts: parts, now: clock())
            publish(snapshot)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            metrics?.policyLoaded(generation: parts.generation, policy: policy)
            logger.info("published lists", metadata: [
                "reason": "\(reason)", "generation": "\(parts.generation)", "applied": "incrementally",
                "records": "\(changes.count)", "overlay_names": "\(policy.overlay?.count ?? 0)",
                "seconds": "\(String(format3digits: seconds))",
            ])
            return .success(snapshot)
        }
    }

    /// Publishes `snapshot` unless a newer generation is already in place (a schedule refresh
    /// racing a reload must not bring back the old lists), then hands it to every event loop.
    private func publish(_ snapshot: PolicySnapshot) {
        var expected = reference.load(ordering: .acquiring)
        while expected.generation <= snapshot.generation {
            let (exchanged, original) = reference.compareExchange(expected: expected, desired: snapshot,
                                                                  ordering: .acquiringAndReleasing)
            if exchanged {
                snapshot.sequence = sequence.wrappingIncrementThenLoad(ordering: .relaxed)
                for adopt in subscribers.withLockedValue({ $0 }) { adopt(snapshot) }
                return
            }
            expected = original
        }
    }

    /// Event loops that keep their own reference to the current snapshot (see `LoopContext`): how
    /// each takes a published one. Closures, so that the policy knows nothing of the pipeline.
    private let subscribers = NIOLockedValueBox<[@Sendable (PolicySnapshot) -> Void]>([])
    /// Orders publications, so a loop never swaps a newer snapshot for an older one.
    private let sequence = ManagedAtomic<Int>(0)

    /// Registers event loops to be handed every snapshot published from now on.
    func subscribe(_ adopt: @escaping @Sendable (PolicySnapshot) -> Void) {
        subscribers.withLockedValue { $0.append(adopt) }
        adopt(current)
    }

    /// Recomputes which lists are in force now and publishes the change, if any; returns when
    /// it must run next.
    @discardableResult
    func refreshSchedule(logger: Logger) -> Double? {
        let old = current
        let now = clock()
        let fresh = PolicySnapshot(parts: old.parts, now: now)
        if fresh.active != old.active {
            publish(fresh)
            for (index, list) in old.policy.lists.enumerated() where fresh.active[index] != old.active[index] {
                logger.info("list schedule turned", metadata: [
                    "list": "\(list.settings.name)", "active": "\(fresh.active[index])",
                    "state": "\(list.settings.schedule.describe(at: now))",
                ])
            }
        }
        return current.nextScheduleChange
    }

    /// Runs until cancelled, turning list schedules on and off at their moments. Wakes at least
    /// once a second so that a reload's new schedule is picked up.
    func runSchedule(logger: Logger) async {
        while !Task.isCancelled {
            let next = refreshSchedule(logger: logger)
            let wait = min(1.0, max(0.001, (next ?? .infinity) - clock()))
            try? await Task.sleep(for: .milliseconds(Int(wait * 1000) + 1))
        }
    }

    struct ReloadError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Sockets and threads are set up at start; a reload cannot change them.
    static func warnAboutRestartOnlyChanges(old: ResolverSettings, new: ResolverSettings, logger: Logger) {
        var changed: [String] = []
        if old.listen != new.listen { changed.append("listen") }
        if old.listenTLS != new.listenTLS { changed.append("listen_tls") }
        if old.listenHTTPS != new.listenHTTPS { changed.append("listen_https") }
        if old.threads != new.threads { changed.append("threads") }
        if old.tcpIdleTimeoutMilliseconds != new.tcpIdleTimeoutMilliseconds { changed.append("tcp") }
        if !changed.isEmpty {
            logger.warning("config keys changed that take effect only after a restart; serving the new lists with the old values",
                           metadata: ["keys": "\(changed.joined(separator: ","))"])
        }
    }
}

extension String {
    /// Seconds with millisecond precision, for logs.
    init(format3digits value: Double) {
        let millis = Int((value * 1000).rounded())
        let fraction = String(millis % 1000)
        self = "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

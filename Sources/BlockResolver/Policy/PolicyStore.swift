import Atomics
import Logging
import ResolverConfig
import Dispatch

/// Holds the policy being served and replaces it on reload.
///
/// Concurrency model: one atomic reference to an immutable `PolicySnapshot`. Readers (every
/// event loop, per query) do one atomic load and never lock; the single writer (the reload task,
/// one reload at a time) builds the next snapshot completely off to the side and publishes it
/// with one atomic store. A failed build publishes nothing, so the old policy keeps serving.
final class PolicyStore: Sendable {
    private let reference: ManagedAtomic<PolicySnapshot>
    private let loader: ConfigLoader

    init(initial: PolicySnapshot, loader: ConfigLoader) {
        reference = ManagedAtomic(initial)
        self.loader = loader
    }

    var current: PolicySnapshot { reference.load(ordering: .acquiring) }

    /// Re-reads the config file and its lists and publishes the result; on any failure keeps the
    /// current policy and returns the reason. Not reentrant: callers run one reload at a time.
    func reload(logger: Logger) -> Result<PolicySnapshot, ReloadError> {
        let old = current
        let started = DispatchTime.now().uptimeNanoseconds
        let settings: ResolverSettings
        do {
            settings = try loader.load(path: old.settings.configPath)
        } catch {
            return .failure(ReloadError(message: error.description))
        }
        Self.warnAboutRestartOnlyChanges(old: old.settings, new: settings, logger: logger)
        let snapshot: PolicySnapshot
        do {
            let policy = try PolicyLoader().load(settings, previous: old.policy)
            snapshot = try PolicySnapshot(generation: old.generation + 1, settings: settings, policy: policy)
        } catch {
            return .failure(ReloadError(message: "\(error)"))
        }
        reference.store(snapshot, ordering: .releasing)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        logger.info("reloaded policy", metadata: [
            "generation": "\(snapshot.generation)",
            "entries": "\(snapshot.policy.entryCount)",
            "names": "\(snapshot.policy.table.uniqueCount)",
            "seconds": "\(String(format3digits: seconds))",
        ])
        ListReport.log(snapshot.policy, logger: logger)
        return .success(snapshot)
    }

    struct ReloadError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Sockets and threads are set up at start; a reload cannot change them.
    static func warnAboutRestartOnlyChanges(old: ResolverSettings, new: ResolverSettings, logger: Logger) {
        var changed: [String] = []
        if old.listen != new.listen { changed.append("listen") }
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

import Foundation
import Logging
import ResolverConfig
#if canImport(Glibc)
import Glibc
#endif

/// Keeps every list with a `fetch` section up to date with its server: a download in the
/// background at start (the copy at `path` is served meanwhile), then every `refresh_s`, and at
/// once on SIGHUP; a failure is retried sooner, with a backoff, while the last good copy serves.
/// A download is judged like a reload before it replaces the copy (`FetchedCopy`), then the lists
/// are published like a reload (`PolicyStore.reloadLists`).
///
/// Concurrency model: as `ZoneTransferService`, one thread of its own at a lower priority takes
/// one list at a time and waits for its download (on the downloader's own event loop group),
/// parses it and publishes; the signal task only marks lists due under a lock and wakes it.
final class ListFetchService: @unchecked Sendable {
    private let store: PolicyStore
    private let logger: Logger
    private let metrics: ResolverMetrics?
    private let downloader = ListDownloader()
    /// Guards `due`, `failures` and `stopped`; the worker waits on it.
    private let condition = NSCondition()
    /// When each list is next downloaded (seconds of `ContinuousClock` since `epoch`).
    private var due: [String: Double] = [:]
    /// Downloads failed in a row, per list: the backoff's exponent.
    private var failures: [String: Int] = [:]
    private var stopped = false
    private let epoch = ContinuousClock.now
    /// The first retry after a failure; each further failure doubles it, up to `refresh_s`
    /// and at most `maxRetrySeconds`.
    static let firstRetrySeconds = 5.0
    static let maxRetrySeconds = 900.0

    init(store: PolicyStore, metrics: ResolverMetrics?, logger: Logger) {
        self.store = store
        self.metrics = metrics
        self.logger = logger
    }

    private var now: Double {
        let elapsed = ContinuousClock.now - epoch
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    private var fetchLists: [ListSettings] { store.current.settings.lists.filter { $0.fetch != nil } }

    /// Says what each downloaded list serves until its first download, and starts the worker;
    /// every downloaded list is fetched at once.
    func start() {
        for list in fetchLists { reportCopy(list) }
        fetchAll()
        let thread = Thread { [self] in
            // On Linux the nice value is per thread (setpriority(2)); downloads yield to the event loops.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, BackgroundWork.niceness)
            work()
        }
        thread.name = "block-resolver-fetch"
        thread.start()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
        downloader.shutdown()
    }

    /// Every downloaded list of the policy now served is due at once (start, SIGHUP).
    func fetchAll() {
        let names = fetchLists.map(\.name)
        condition.lock()
        for name in names { due[name] = 0 }
        condition.signal()
        condition.unlock()
    }

    /// The copy served now: logged loudly and shown by `dns_fetch_copy_present` when there is none.
    private func reportCopy(_ list: ListSettings) {
        let served = store.current.policy.lists.first { $0.settings.name == list.name }
        let present = served.map { $0.identity != PolicyLoader.noCopy } ?? false
        metrics?.fetchCopy(list: list.name, present: present, entries: served?.parsed.entryTotal ?? 0)
        if !present {
            logger.error("downloaded list has no copy yet: it is served EMPTY until the first download succeeds",
                         metadata: ["list": "\(list.name)", "path": "\(list.pathAsWritten)", "url": "\(list.fetch?.url ?? "")"])
        }
    }

    private func work() {
        while true {
            condition.lock()
            var next: (name: String, at: Double)? = nil
            while !stopped {
                next = due.min { $0.value < $1.value }.map { ($0.key, $0.value) }
                let wait = (next?.at ?? .infinity) - now
                if wait <= 0 { break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: min(wait, 60)))
            }
            if stopped { condition.unlock(); return }
            guard let name = next?.name else { condition.unlock(); continue }
            due[name] = .infinity  // a SIGHUP during the download makes it due again
            condition.unlock()

            guard let list = fetchLists.first(where: { $0.name == name }), let fetch = list.fetch else {
                condition.lock(); due[name] = nil; failures[name] = nil; condition.unlock()  // gone from the config
                continue
            }
            let succeeded = refresh(list, fetch)
            condition.lock()
            failures[name] = succeeded ? 0 : (failures[name] ?? 0) + 1
            let delay = succeeded ? Double(fetch.refreshSeconds) : Self.retryDelay(failures: failures[name]!, fetch)
            if due[name] == .infinity { due[name] = now + delay }
            condition.unlock()
            if !succeeded {
                logger.warning("next download of the list", metadata: ["list": "\(name)", "retry_s": "\(Int(delay))"])
            }
        }
    }

    /// Seconds to wait after `failures` failures in a row: 5, 10, 20 … up to `refresh_s` and 15 minutes.
    static func retryDelay(failures: Int, _ fetch: ListFetchSettings) -> Double {
        let backoff = firstRetrySeconds * pow(2, Double(min(max(failures - 1, 0), 20)))
        return min(backoff, Double(fetch.refreshSeconds), maxRetrySeconds)
    }

    /// One download of `list` and its publication; whether it succeeded (a 304 does).
    private func refresh(_ list: ListSettings, _ fetch: ListFetchSettings) -> Bool {
        let copy = FetchedCopy(list: list)
        let started = ContinuousClock.now
        func seconds() -> String {
            let elapsed = ContinuousClock.now - started
            return String(format3digits: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        var bytes = 0
        do {
            switch try downloader.downloadWaiting(fetch, to: copy).get() {
            case .notModified:
                metrics?.fetchFinished(list: list.name, result: "not_modified", bytes: 0)
                logger.info("list fetched", metadata: [
                    "list": "\(list.name)", "url": "\(fetch.url)", "outcome": "not_modified", "status": "304",
                    "seconds": "\(seconds())",
                ])
                return true
            case .downloaded(let size, let validators):
                bytes = size
                let entries = try publish(list, copy, validators)
                metrics?.fetchFinished(list: list.name, result: "success", bytes: size)
                metrics?.fetchCopy(list: list.name, present: true, entries: entries)
                logger.info("list fetched", metadata: [
                    "list": "\(list.name)", "url": "\(fetch.url)", "outcome": "downloaded", "status": "200",
                    "bytes": "\(size)", "entries": "\(entries)", "seconds": "\(seconds())",
                ])
                return true
            }
        } catch {
            let result = (error as? ListDownloader.Failure)?.result ?? (error is FetchedCopy.Failure ? "rejected" : "failure")
            metrics?.fetchFinished(list: list.name, result: result, bytes: bytes)
            let hasCopy = FileManager.default.fileExists(atPath: list.path)
            logger.error(hasCopy ? "list download failed; still serving the last good copy"
                                 : "list download failed; the list has no copy and is served EMPTY", metadata: [
                "list": "\(list.name)", "url": "\(fetch.url)", "outcome": "\(result)", "error": "\(error)",
                "bytes": "\(bytes)", "seconds": "\(seconds())",
            ])
            return false
        }
    }

    /// Judges the download, puts it in the copy's place and publishes the lists; returns its entries.
    private func publish(_ list: ListSettings, _ copy: FetchedCopy, _ validators: FetchedCopy.Validators) throws -> Int {
        let served = store.current.policy.lists.first { $0.settings.name == list.name }
        let previousEntries = served.map { $0.identity == PolicyLoader.noCopy ? 0 : $0.parsed.entryTotal } ?? 0
        let judged = try copy.judgeDownload(previousEntries: previousEntries)
        try copy.install(validators)
        guard case .success = store.reloadLists(logger: logger, reason: "download of \(list.name)",
                                                prepared: [list.name: (judged.parsed, judged.identity)]) else {
            throw FetchedCopy.Failure(description: "the download was written but could not be served (see the reload log)")
        }
        return judged.parsed.entryTotal
    }
}

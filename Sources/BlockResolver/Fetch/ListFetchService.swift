import Foundation
import Logging
import ResolverConfig

/// Keeps every list with a `fetch` section up to date with its server: a download in the
/// background at start (the copy at `path` is served meanwhile), then every `refresh_s`, and at
/// once on SIGHUP; a failure is retried sooner, with a backoff, while the last good copy serves.
/// A download is judged like a reload before it replaces the copy (`FetchedCopy`), then the lists
/// are published like a reload (`PolicyStore.reloadLists`).
///
/// Concurrency model: a `DueTimeWorker` (one thread of its own at a lower priority) takes one
/// list at a time and waits for its download (on the downloader's own event loop group), parses
/// it and publishes; the signal task only marks lists due.
final class ListFetchService: @unchecked Sendable {
    private let store: PolicyStore
    private let logger: Logger
    private let metrics: ResolverMetrics?
    private let downloader = ListDownloader()
    private let worker = DueTimeWorker(threadName: "block-resolver-fetch")
    /// Downloads failed in a row, per list: the backoff's exponent. Used on the worker's thread only.
    private var failures: [String: Int] = [:]
    /// The first retry after a failure; each further failure doubles it, up to `refresh_s`
    /// and at most `maxRetrySeconds`.
    static let firstRetrySeconds = 5.0
    static let maxRetrySeconds = 900.0

    init(store: PolicyStore, metrics: ResolverMetrics?, logger: Logger) {
        self.store = store
        self.metrics = metrics
        self.logger = logger
    }

    private var fetchLists: [ListSettings] { store.current.settings.lists.filter { $0.fetch != nil } }

    /// Says what each downloaded list serves until its first download, and starts the worker;
    /// every downloaded list is fetched at once.
    func start() {
        for list in fetchLists { reportCopy(list) }
        fetchAll()
        worker.start { [self] name in fetchIfListed(name) }
    }

    func stop() {
        worker.stop()
        downloader.shutdown()
    }

    /// Every downloaded list of the policy now served is due at once (start, SIGHUP).
    func fetchAll() {
        worker.makeDue(fetchLists.map(\.name))
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

    /// One download of the list named `name`, if the config still has it; the seconds until the next.
    private func fetchIfListed(_ name: String) -> Double? {
        guard let list = fetchLists.first(where: { $0.name == name }), let fetch = list.fetch else {
            failures[name] = nil  // gone from the config
            return nil
        }
        let succeeded = refresh(list, fetch)
        failures[name] = succeeded ? 0 : (failures[name] ?? 0) + 1
        let delay = succeeded ? Double(fetch.refreshSeconds) : Self.retryDelay(failures: failures[name]!, fetch)
        if !succeeded {
            logger.warning("next download of the list", metadata: ["list": "\(name)", "retry_s": "\(Int(delay))"])
        }
        return delay
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
        func seconds() -> String { String(format3digits: DueTimeWorker.seconds(since: started)) }
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

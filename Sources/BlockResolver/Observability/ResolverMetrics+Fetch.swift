import CoreMetrics
import Foundation

/// The metrics of downloaded lists (`ListFetchService`), updated off the hot path, named like the
/// zone transfers' (`dns_transfer_*`).
extension ResolverMetrics {
    /// Whether the list has a copy to serve (0: it is served empty), and its entries.
    func fetchCopy(list: String, present: Bool, entries: Int) {
        CoreMetrics.Gauge(label: "dns_fetch_copy_present", dimensions: [("list", list)], factory: factory)
            .record(present ? 1 : 0)
        CoreMetrics.Gauge(label: "dns_fetch_entries", dimensions: [("list", list)], factory: factory).record(entries)
    }

    /// One download ended with `result` (success, not_modified, failure, rejected, too_large);
    /// `bytes` is the length of a body that was read (decoded).
    func fetchFinished(list: String, result: String, bytes: Int) {
        CoreMetrics.Counter(label: "dns_fetches_total", dimensions: [("list", list), ("result", result)],
                            factory: factory).increment()
        let success = result == "success" || result == "not_modified"
        CoreMetrics.Gauge(label: "dns_fetch_last_attempt_success", dimensions: [("list", list)], factory: factory)
            .record(success ? 1 : 0)
        CoreMetrics.Gauge(label: "dns_fetch_last_attempt_timestamp_seconds", dimensions: [("list", list)],
                          factory: factory).record(Date().timeIntervalSince1970)
        if success {
            CoreMetrics.Gauge(label: "dns_fetch_last_success_timestamp_seconds", dimensions: [("list", list)],
                              factory: factory).record(Date().timeIntervalSince1970)
        }
        if bytes > 0 {
            CoreMetrics.Counter(label: "dns_fetch_downloaded_bytes_total", dimensions: [("list", list)],
                                factory: factory).increment(by: bytes)
        }
        if result == "success" {
            CoreMetrics.Gauge(label: "dns_fetch_bytes", dimensions: [("list", list)], factory: factory).record(bytes)
        }
    }
}

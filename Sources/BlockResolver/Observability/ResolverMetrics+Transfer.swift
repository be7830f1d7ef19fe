import CoreMetrics
import Foundation

/// The metrics of zone transfers (`ZoneTransferService`) and of NOTIFY messages, all updated off
/// the hot path. The Prometheus registry hands back the same series for the same name and labels,
/// so they are made where they are used.
extension ResolverMetrics {
    /// The serial the list now serves, and with `success` the time of a transfer that succeeded
    /// (a SOA check that found the zone current counts: the copy is as new as the primary's).
    func transferChecked(list: String, serial: UInt32, success: Bool = true) {
        CoreMetrics.Gauge(label: "dns_transfer_serial", dimensions: [("list", list)], factory: factory).record(Int(serial))
        if success {
            CoreMetrics.Gauge(label: "dns_transfer_last_success_timestamp_seconds", dimensions: [("list", list)],
                              factory: factory).record(Date().timeIntervalSince1970)
        }
    }

    /// One transfer of `kind` (axfr, ixfr, soa) ended with `result` (success, failure, fallback,
    /// serial_backwards), having changed `records` records.
    func transferFinished(list: String, kind: String, result: String, records: Int) {
        CoreMetrics.Counter(label: "dns_transfers_total", dimensions: [("list", list), ("kind", kind), ("result", result)],
                            factory: factory).increment()
        if records > 0 {
            CoreMetrics.Counter(label: "dns_transfer_records_applied_total", dimensions: [("list", list)],
                                factory: factory).increment(by: records)
        }
    }

    /// How a transfer's result reached the policy: `incremental` (an IXFR published as a delta,
    /// nothing read again), `reread` (the copy read and compiled again), `compaction` (the
    /// deltas carried so far compiled into the list, after a transfer).
    func transferApplied(list: String, how: String) {
        CoreMetrics.Counter(label: "dns_transfer_applied_total", dimensions: [("list", list), ("how", how)],
                            factory: factory).increment()
    }

    /// A NOTIFY accepted, or refused (from an address that is not a listed primary, for a zone
    /// not transferred, or without the list's TSIG key).
    func notifyReceived(result: String) {
        CoreMetrics.Counter(label: "dns_notify_total", dimensions: [("result", result)], factory: factory).increment()
    }
}

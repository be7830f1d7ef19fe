import Foundation
import Logging
import NIOConcurrencyHelpers
import ResolverConfig

/// Keeps every list with a `transfer` section up to date with its primary: a SOA check at start,
/// every refresh interval, on a NOTIFY from a listed primary and on SIGHUP; an IXFR from the
/// copy's serial (or an AXFR without a copy, or when the primary gives no delta); the result
/// written as the list's copy and the lists published like a reload (`PolicyStore.reloadLists`).
///
/// Concurrency model: a `DueTimeWorker` (one thread of its own at a lower priority) does every
/// transfer, one at a time, with blocking sockets bounded by a timeout; nothing here runs on an
/// event loop. Event loops (a NOTIFY) and the signal task only mark a list as due.
/// A failure of any kind (primary down, stream cut, bad signature, a delta that does not fit)
/// publishes nothing: the list keeps serving what it had, and the check is retried.
final class ZoneTransferService: @unchecked Sendable {
    let store: PolicyStore
    let logger: Logger
    let metrics: ResolverMetrics?
    private let worker = DueTimeWorker(threadName: "block-resolver-transfer")
    /// Seconds a connection, a read or a write to a primary may take.
    static let timeoutSeconds = 10
    /// Retry after a failure when the zone names no retry interval yet (no copy).
    static let defaultRetrySeconds = 30.0

    init(store: PolicyStore, metrics: ResolverMetrics?, logger: Logger) {
        self.store = store
        self.metrics = metrics
        self.logger = logger
    }

    /// Starts the worker; every transfer list is checked at once.
    func start() {
        checkAll()
        worker.start { [self] name in checkIfListed(name) }
    }

    func stop() {
        worker.stop()
    }

    /// Every transfer list of the policy now served is due at once (start, SIGHUP).
    func checkAll() {
        worker.makeDue(store.current.settings.lists.filter { $0.transfer != nil }.map(\.name))
    }

    /// `list` is due at once (a NOTIFY). Cheap: called on an event loop.
    func check(list: String) {
        worker.makeDue([list])
    }

    /// One SOA check of the list named `name`, if the config still has it; the seconds until the next.
    private func checkIfListed(_ name: String) -> Double? {
        guard let list = store.current.settings.lists.first(where: { $0.name == name }), let transfer = list.transfer
        else { return nil }  // gone from the config
        return refresh(list, transfer)
    }

    /// One SOA check of `list` and the transfer it calls for; returns the seconds until the next check.
    private func refresh(_ list: ListSettings, _ transfer: ZoneTransferSettings) -> Double {
        let header = ZoneCopy.header(path: list.path).flatMap { $0.zone == transfer.zone ? $0 : nil }
        let key = transfer.tsig.map { TransferMessage.Key(name: $0.name, algorithm: $0.algorithm, secret: $0.secret) }
        let client = ZoneTransfer(zone: transfer.zone, key: key, timeoutSeconds: Self.timeoutSeconds)
        let retry = Double(min(transfer.refreshSeconds ?? Int.max, Int(header?.retry ?? 0) > 0 ? Int(header!.retry) : Int(Self.defaultRetrySeconds)))
        var failures: [String] = []
        for primary in transfer.primaries {
            let started = ContinuousClock.now
            do {
                let soa = try client.soa(from: primary)
                let serial = soa.soaSerial ?? 0
                if let header {
                    if serial == header.serial {
                        logger.debug("zone is current", metadata: ["list": "\(list.name)", "serial": "\(serial)"])
                        metrics?.transferChecked(list: list.name, serial: serial)
                        return interval(transfer, soa)
                    }
                    if !Self.isNewer(serial, than: header.serial) {
                        failures.append("\(primary): its serial \(serial) is older than the copy's \(header.serial)")
                        metrics?.transferFinished(list: list.name, kind: "soa", result: "serial_backwards", records: 0)
                        continue
                    }
                }
                let (kind, records, incremental) = try transferAndApply(list, transfer, client, primary, from: header?.serial)
                let seconds = DueTimeWorker.seconds(since: started)
                if !incremental {
                    guard case .success = store.reloadLists(logger: logger, reason: "transfer of \(list.name)") else {
                        failures.append("the transferred zone was written but could not be served (see the reload log)")
                        break
                    }
                }
                let written = ZoneCopy.header(path: list.path)
                metrics?.transferFinished(list: list.name, kind: kind, result: "success", records: records)
                metrics?.transferApplied(list: list.name, how: incremental ? "incremental" : "reread")
                metrics?.transferChecked(list: list.name, serial: written?.serial ?? serial, success: true)
                logger.info("zone transferred", metadata: [
                    "list": "\(list.name)", "zone": "\(transfer.zone)", "primary": "\(primary)", "kind": "\(kind)",
                    "from_serial": "\(header.map { String($0.serial) } ?? "none")", "serial": "\(written?.serial ?? serial)",
                    "records": "\(records)", "applied": "\(incremental ? "incrementally" : "by reading the copy")",
                    "seconds": "\(String(format3digits: seconds))",
                ])
                if incremental { compactIfDue(list) }
                return interval(transfer, soa)
            } catch {
                failures.append("\(primary): \(error)")
                metrics?.transferFinished(list: list.name, kind: header == nil ? "axfr" : "ixfr", result: "failure", records: 0)
            }
        }
        logger.error("zone transfer failed; still serving the last good copy", metadata: [
            "list": "\(list.name)", "zone": "\(transfer.zone)",
            "serial": "\(header.map { String($0.serial) } ?? "none")",
            "errors": "\(failures.joined(separator: "; "))", "retry_s": "\(Int(retry))",
        ])
        return max(1, retry)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// An IXFR from `serial` published as a delta of the policy (`applyIncrementally`) or applied
    /// to the copy, or an AXFR written as the copy: the AXFR when there is no copy, or when the
    /// IXFR cannot be had or does not fit. Returns the kind used, the records it changed, and
    /// whether the policy was published already (incrementally); else the caller reads the copy.
    private func transferAndApply(_ list: ListSettings, _ transfer: ZoneTransferSettings, _ client: ZoneTransfer,
                                  _ primary: HostPort, from serial: UInt32?) throws -> (String, Int, Bool) {
        if let serial {
            do {
                switch try client.transfer(from: primary, serial: serial, copyPath: list.path) {
                case .current:
                    return ("ixfr", 0, false)
                case .full(_, let records):
                    // The primary answered the IXFR with the whole zone (RFC 1995 4): an AXFR in effect.
                    return ("axfr", records, false)
                case .incremental(_, let differences):
                    if let records = try applyIncrementally(list, transfer, differences, from: serial) {
                        return ("ixfr", records, true)
                    }
                    return ("ixfr", try ZoneCopy.apply(differences, zone: transfer.zone, to: list.path), false)
                }
            } catch let failure as ZoneTransfer.Failure where failure.wantsFullTransfer {
                logger.warning("IXFR not available; falling back to AXFR", metadata: [
                    "list": "\(list.name)", "primary": "\(primary)", "reason": "\(failure)",
                ])
            } catch let failure as ZoneCopy.Failure {
                logger.warning("IXFR does not fit the copy; falling back to AXFR", metadata: [
                    "list": "\(list.name)", "primary": "\(primary)", "reason": "\(failure)",
                ])
            }
            metrics?.transferFinished(list: list.name, kind: "ixfr", result: "fallback", records: 0)
        }
        guard case .full(_, let records) = try client.transfer(from: primary, serial: nil, copyPath: list.path) else {
            throw Failure(description: "\(primary) did not answer the AXFR with a whole zone")
        }
        return ("axfr", records, false)
    }

    /// Seconds until the next SOA check: `refresh_s`, or the zone's own SOA refresh.
    private func interval(_ transfer: ZoneTransferSettings, _ soa: ZoneTransfer.Record) -> Double {
        Double(max(1, transfer.refreshSeconds ?? Int(soa.soaRefresh ?? 3600)))
    }

    /// Serial number arithmetic (RFC 1982): whether `a` is newer than `b`.
    static func isNewer(_ a: UInt32, than b: UInt32) -> Bool {
        a != b && (a &- b) < 0x8000_0000
    }
}

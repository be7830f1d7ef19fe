import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// RPZ by zone transfer from a real primary: BIND 9's named, started by each test with a zone it
/// writes and changed with nsupdate, so that named sends NOTIFY and serves IXFR from its journal.
/// The resolver is the built binary; queries go through dig and raw UDP sockets.
final class ZoneTransferIntegrationTests: ZoneTransferTestCase {
    func testAXFRAtStartThenIXFRDrivenByNotify() throws {
        let resolverPort = try TestTools.freePort()
        let metricsPort = try TestTools.freePort()
        let primary = try PrimaryServer(folder: folder, zone: Self.zone, records: ["blocked.example CNAME ."],
                                        notifyPort: resolverPort)
        let resolver = try startResolver(primaryPort: primary.port, port: resolverPort,
                                         extraConfig: "metrics: { listen: \"127.0.0.1:\(metricsPort)\" }")
        XCTAssertEqual(try waitFor(resolver, "blocked.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        let axfr = lines(resolver.server.log, "zone transferred")
        XCTAssertEqual(axfr.count, 1, resolver.server.log)
        XCTAssertTrue(axfr.first?.contains("kind=axfr") == true, resolver.server.log)
        XCTAssertEqual(copyHeader(), "; block-resolver zone copy: rpz.test. serial 1 refresh 3600 retry 1")
        XCTAssertEqual(try resolver.dig.query("new.example").status, "NOERROR")

        // A change on the primary: named bumps the serial, sends NOTIFY, serves the delta.
        try primary.update(["update add new.example.\(Self.zone). 60 CNAME ."])
        XCTAssertEqual(try waitFor(resolver, "new.example", "NXDOMAIN", seconds: 2), "NXDOMAIN",
                       resolver.server.log + primary.server.log)
        let log = resolver.server.log
        XCTAssertEqual(lines(log, "NOTIFY accepted").isEmpty, false, log)
        XCTAssertTrue(lines(log, "zone transferred").last?.contains("kind=ixfr") == true, log)
        XCTAssertTrue(lines(log, "zone transferred").last?.contains("records=1") == true, log)
        // Published as a delta of the policy: no file read, nothing compiled again.
        XCTAssertTrue(lines(log, "zone transferred").last?.contains("applied=incrementally") == true, log)
        XCTAssertTrue(lines(log, "published lists").last?.contains("applied=incrementally") == true, log)
        XCTAssertEqual(try resolver.dig.query("blocked.example").status, "NXDOMAIN")
        XCTAssertTrue(copyHeader().contains("serial 2"), copyHeader())
        let metrics = try XCTUnwrap(try TestTools.httpGet(port: metricsPort, path: "/metrics")).body
        for line in [#"dns_transfer_serial{list="trustpositif"} 2"#,
                     #"dns_transfers_total{list="trustpositif",kind="axfr",result="success"} 1"#,
                     #"dns_transfers_total{list="trustpositif",kind="ixfr",result="success"} 1"#,
                     // The AXFR's SOA, NS, A and CNAME, then the IXFR's one CNAME.
                     #"dns_transfer_records_applied_total{list="trustpositif"} 5"#,
                     #"dns_transfer_applied_total{list="trustpositif",how="reread"} 1"#,
                     #"dns_transfer_applied_total{list="trustpositif",how="incremental"} 1"#] {
            XCTAssertTrue(metrics.contains(line), "\(line) not in\n\(metrics)")
        }
        // At least the change's NOTIFY; named may also send one for loading the zone, after the
        // resolver started (its startup NOTIFY is delayed), or repeat one it thinks unanswered.
        let accepted = metrics.split(separator: "\n").first { $0.hasPrefix(#"dns_notify_total{result="accepted"} "#) }
        XCTAssertGreaterThanOrEqual(Int(accepted?.split(separator: " ").last ?? "") ?? 0, 1, metrics)
        XCTAssertTrue(metrics.contains(#"dns_transfer_last_success_timestamp_seconds{list="trustpositif"}"#), metrics)
        // `check` names the transfer and the copy's serial.
        let check = try TestTools.run(try TestTools.binary(), ["check", "--config", resolver.configURL.path])
        XCTAssertTrue(check.output.contains("transfer: zone rpz.test. from 127.0.0.1:\(primary.port)"), check.output)
        XCTAssertTrue(check.output.contains("copy: serial 2 (trustpositif.rpz)"), check.output)

        // A deletion travels the same way.
        try primary.update(["update delete new.example.\(Self.zone). CNAME"])
        XCTAssertEqual(try waitFor(resolver, "new.example", "NOERROR", seconds: 2), "NOERROR", resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("blocked.example").status, "NXDOMAIN")
        XCTAssertTrue(lines(resolver.server.log, "zone transferred").last?.contains("applied=incrementally") == true,
                      resolver.server.log)
    }

    /// Wildcards go incrementally; local data (one rule for all of an owner's records) takes the
    /// older way, the copy read again; an overlay past its threshold is compacted; a restart from
    /// the copy gives the answers the incremental state gave.
    func testIncrementalWildcardsLocalDataByRereadAndCompaction() throws {
        let resolverPort = try TestTools.freePort()
        let metricsPort = try TestTools.freePort()
        // The zone holds a wildcard already: an entry of a kind (trigger and action) the list
        // has none of yet makes it read again once (the kind needs its answer template).
        let primary = try PrimaryServer(folder: folder, zone: Self.zone,
                                        records: ["blocked.example CNAME .", "*.later.example CNAME ."],
                                        notifyPort: resolverPort)
        var resolver = try startResolver(primaryPort: primary.port, port: resolverPort,
                                         extraConfig: "metrics: { listen: \"127.0.0.1:\(metricsPort)\" }")
        XCTAssertEqual(try waitFor(resolver, "blocked.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)

        try primary.update(["update add *.allowed.example.\(Self.zone). 60 CNAME ."])
        XCTAssertEqual(try waitFor(resolver, "x.allowed.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("allowed.example").status, "NOERROR", "a wildcard covers the names below only")
        XCTAssertTrue(lines(resolver.server.log, "zone transferred").last?.contains("applied=incrementally") == true,
                      resolver.server.log)

        try primary.update(["update add local.example.\(Self.zone). 60 A 192.0.2.77"])
        XCTAssertTrue(TestTools.waitUntil { self.lines(resolver.server.log, "zone transferred").count == 3 },
                      resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("local.example").answerData, ["192.0.2.77"], resolver.server.log)
        XCTAssertFalse(lines(resolver.server.log, "IXFR applied by reading the copy again").isEmpty, resolver.server.log)
        XCTAssertTrue(lines(resolver.server.log, "zone transferred").last?.contains("applied=by reading the copy") == true,
                      resolver.server.log)

        // 70 names: past the overlay's 64 for a zone this small, so the list is compiled again
        // (74 entries: these, the two wildcards, the local data and the A record of the NS name).
        try primary.update((0..<70).map { "update add c\($0).example.\(Self.zone). 60 CNAME ." }
                           + ["update delete blocked.example.\(Self.zone). CNAME"])
        XCTAssertEqual(try waitFor(resolver, "c69.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        // The compaction is logged when it starts and counted when it is published: wait for both.
        let compacted = #"dns_transfer_applied_total{list="trustpositif",how="compaction"} 1"#
        var metrics = ""
        XCTAssertTrue(TestTools.waitUntil {
            metrics = (try? TestTools.httpGet(port: metricsPort, path: "/metrics"))?.body ?? ""
            return metrics.contains(compacted)
        }, metrics)
        XCTAssertFalse(lines(resolver.server.log, "compacting the policy").isEmpty, resolver.server.log)
        for line in [#"dns_transfer_applied_total{list="trustpositif",how="incremental"} 2"#,
                     #"dns_transfer_applied_total{list="trustpositif",how="reread"} 2"#,
                     #"dns_list_entries{list="trustpositif"} 74"#] {
            XCTAssertTrue(metrics.contains(line), "\(line) not in\n\(metrics)")
        }
        let names = ["blocked.example", "x.allowed.example", "allowed.example", "c0.example", "c69.example"]
        let before = try names.map { try resolver.dig.query($0).status }
        XCTAssertEqual(before, ["NOERROR", "NXDOMAIN", "NOERROR", "NXDOMAIN", "NXDOMAIN"])
        XCTAssertTrue(copyHeader().contains("serial 4"), copyHeader())

        // Read from the copy at start, the zone answers as the deltas left it.
        resolver.server.stop()
        primary.server.stop()
        resolver = try startResolver(primaryPort: primary.port)
        XCTAssertEqual(try names.map { try resolver.dig.query($0).status }, before, resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("local.example").answerData, ["192.0.2.77"])
    }

    func testIXFRThatDoesNotFitTheCopyFallsBackToAXFR() throws {
        let primary = try PrimaryServer(folder: folder, zone: Self.zone,
                                        records: ["blocked.example CNAME .", "deleted.example CNAME ."], notifyPort: nil)
        var resolver = try startResolver(primaryPort: primary.port)
        XCTAssertEqual(try waitFor(resolver, "deleted.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        resolver.server.stop()
        // The primary deletes a record the copy no longer has (edited by hand): the delta does not fit.
        try primary.update(["update delete deleted.example.\(Self.zone). CNAME", "update add later.example.\(Self.zone). 60 CNAME ."])
        let copy = try String(contentsOf: copyURL, encoding: .utf8)
        try copy.split(separator: "\n").filter { !$0.hasPrefix("deleted.example") }.joined(separator: "\n")
            .write(to: copyURL, atomically: true, encoding: .utf8)

        resolver = try startResolver(primaryPort: primary.port)
        XCTAssertEqual(try waitFor(resolver, "later.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        let log = resolver.server.log
        XCTAssertFalse(lines(log, "falling back to AXFR").isEmpty, log)
        XCTAssertTrue(lines(log, "zone transferred").last?.contains("kind=axfr") == true, log)
        XCTAssertEqual(try resolver.dig.query("deleted.example").status, "NOERROR")
        XCTAssertEqual(try resolver.dig.query("blocked.example").status, "NXDOMAIN")
        XCTAssertTrue(copyHeader().contains("serial 2"), copyHeader())
    }

    func testAnswersStayCorrectThroughTransfersUnderAQueryLoop() throws {
        let resolverPort = try TestTools.freePort()
        let primary = try PrimaryServer(folder: folder, zone: Self.zone, records: ["blocked.example CNAME ."],
                                        notifyPort: resolverPort)
        let resolver = try startResolver(primaryPort: primary.port, port: resolverPort)
        XCTAssertEqual(try waitFor(resolver, "blocked.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)

        let blocked = RawDNS.query(id: 1, name: "blocked.example")
        let allowed = RawDNS.query(id: 2, name: "allowed.example")
        let port = resolver.port
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var asked = 0
            var wrong: [String] = []
            var stop = false
        }
        let tally = Tally()
        let loop = Thread {
            // Bounded: at most 3000 queries or 60 s, whichever comes first.
            let deadline = Date().addingTimeInterval(60)
            for index in 0..<3000 {
                if tally.lock.withLock({ tally.stop }) || Date() > deadline { break }
                let isBlocked = index % 2 == 0
                let reply = RawDNS.udpExchange(isBlocked ? blocked : allowed, port: port, milliseconds: 1000)
                tally.lock.withLock {
                    tally.asked += 1
                    let rcode = reply.map(RawDNS.rcode)
                    if rcode != (isBlocked ? 3 : 0) { tally.wrong.append("query \(index): rcode \(rcode.map(String.init) ?? "none")") }
                }
            }
            tally.lock.withLock { tally.stop = true }
        }
        loop.start()
        for round in 0..<5 {
            try primary.update((0..<50).map { "update add r\(round)-\($0).example.\(Self.zone). 60 CNAME ." })
            XCTAssertEqual(try waitFor(resolver, "r\(round)-49.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        }
        tally.lock.withLock { tally.stop = true }
        XCTAssertTrue(TestTools.waitUntil { loop.isFinished })
        XCTAssertGreaterThan(tally.asked, 10)
        XCTAssertEqual(tally.wrong, [], resolver.server.log)
        XCTAssertGreaterThanOrEqual(lines(resolver.server.log, "zone transferred").count, 6)
    }

    /// scripts/fleet: named, three instances and dnsdist in a private network namespace; a change
    /// reaches every instance and dnsdist within 5 s, dnsdist survives an instance killed, and
    /// the instance restarted with the primary stopped serves its copy. The script checks each
    /// step and exits 1 when one does not hold.
    func testFleetScript() throws {
        let script = TestTools.packageRoot.appendingPathComponent("scripts/fleet").path
        let run = try TestTools.run(script, ["--binary", try TestTools.binary()], seconds: 240)
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("fleet: OK"), run.output)
        XCTAssertEqual(run.output.components(separatedBy: "fleet: new.test blocked on").count, 5, run.output)
    }

}

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// RPZ zones, per-list responses, landing pages, schedules, monitor mode and reloads under
/// queries, through the built binary with a real upstream (ldns-testns) and dig.
final class ListFeaturesIntegrationTests: XCTestCase {
    var folder: URL!
    var upstream: FakeUpstream!

    static let upstreamData = [
        FakeUpstream.entry("ok.judi.example.", "A", records: ["ok.judi.example. 60 IN A 192.0.2.1"]),
        FakeUpstream.entry("tcp.example.", "A", records: ["tcp.example. 60 IN A 192.0.2.2"]),
        FakeUpstream.entry("watched.example.", "A", records: ["watched.example. 60 IN A 192.0.2.3"]),
        FakeUpstream.entry("later.example.", "A", records: ["later.example. 60 IN A 192.0.2.4"]),
        FakeUpstream.entry("stable.example.", "A", records: ["stable.example. 60 IN A 192.0.2.5"]),
        FakeUpstream.entry("trustpositif.block-resolver.test.", "A",
                           records: ["trustpositif.block-resolver.test. 60 IN A 192.0.2.70"]),
    ].joined()

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
        upstream = try FakeUpstream(data: Self.upstreamData, folder: folder)
    }

    override func tearDownWithError() throws {
        upstream = nil
        try? FileManager.default.removeItem(at: folder)
    }

    func start(_ lists: [String], files: [String: String]) throws -> ResolverUnderTest {
        try ResolverUnderTest(folder: folder, files: files, lists: lists, upstreamPorts: [upstream.port])
    }

    static func rpzFixture() throws -> String {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/policy", withExtension: "rpz"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    func testRPZZoneWithEveryAction() throws {
        let resolver = try start([#"{ name: rpz, path: policy.rpz, format: rpz, category: "RPZ test" }"#],
                                 files: ["policy.rpz": try Self.rpzFixture()])
        let dig = resolver.dig

        let nx = try dig.query("judi.example")
        XCTAssertEqual(nx.status, "NXDOMAIN", nx.description)
        XCTAssertTrue(nx.authority.first?.contains("SOA") == true, nx.description)
        XCTAssertEqual(nx.ede, "16 (Censored): (RPZ test)", nx.description)
        XCTAssertEqual(try dig.query("www.judi.example").status, "NXDOMAIN")

        let passthru = try dig.query("ok.judi.example")
        XCTAssertEqual(passthru.answerData, ["192.0.2.1"], passthru.description)

        let nodata = try dig.query("empty.example")
        XCTAssertEqual(nodata.status, "NOERROR", nodata.description)
        XCTAssertTrue(nodata.answer.isEmpty, nodata.description)
        XCTAssertEqual(nodata.authority.count, 1, nodata.description)
        // An exact trigger covers that name only: a name below it is forwarded (the test upstream
        // has nothing for it, so it says SERVFAIL... or whatever it says, but not the RPZ's NODATA).
        XCTAssertNotEqual(try dig.query("x.empty.example").authority.first?.contains("block-resolver.invalid"), true)

        let dropped = try dig.query("drop.example")
        XCTAssertNil(dropped.status, "rpz-drop sends nothing: \(dropped)")

        let tcpOnlyUDP = try dig.query("tcp.example", "A", ["+ignore"])
        XCTAssertTrue(tcpOnlyUDP.flags.contains("tc"), tcpOnlyUDP.description)
        XCTAssertTrue(tcpOnlyUDP.answer.isEmpty, tcpOnlyUDP.description)
        XCTAssertEqual(try dig.query("tcp.example", "A", ["+tcp"]).answerData, ["192.0.2.2"])

        let local = try dig.query("local.example", "A")
        XCTAssertEqual(local.answerData, ["192.0.2.80"], local.description)
        XCTAssertTrue(local.answer[0].hasPrefix("local.example.\t"), "owner rewritten to the query name: \(local)")
        XCTAssertEqual(try dig.query("local.example", "AAAA").answerData, ["2001:db8::80"])
        XCTAssertEqual(try dig.query("local.example", "TXT").answerData, ["\"blocked by RPZ\""])
        let noLocalMX = try dig.query("local.example", "MX")
        XCTAssertEqual(noLocalMX.status, "NOERROR")
        XCTAssertTrue(noLocalMX.answer.isEmpty, noLocalMX.description)

        let landing = try dig.query("Landing.Example", "A")
        // The policy CNAME is followed: its target's address comes from the upstream.
        XCTAssertEqual(landing.answer.count, 2, landing.description)
        XCTAssertTrue(landing.answer[0].hasPrefix("Landing.Example.\t"), landing.description)
        XCTAssertTrue(landing.answer[0].hasSuffix("CNAME\ttrustpositif.block-resolver.test."), landing.description)
        XCTAssertEqual(landing.answerData.last, "192.0.2.70", landing.description)
        let landingCNAME = try dig.query("landing.example", "CNAME")
        XCTAssertEqual(landingCNAME.answerData, ["trustpositif.block-resolver.test."], landingCNAME.description)
    }

    func testPerListResponsesEDEAndReference() throws {
        let lists = [
            #"{ name: nx, path: nx.txt, response: nxdomain, ede: 15, category: "Gambling", reference: "UU ITE art. 27" }"#,
            #"{ name: nodata, path: nodata.txt, response: nodata, ede: 17 }"#,
            #"{ name: refused, path: refused.txt, response: refused }"#,
            #"{ name: dropped, path: dropped.txt, response: drop }"#,
            #"{ name: quiet, path: quiet.txt, ede: none, sinkhole: { ipv4: 192.0.2.99, ttl: 60 } }"#,
        ]
        let resolver = try start(lists, files: ["nx.txt": "nx.example\n", "nodata.txt": "nodata.example\n",
                                                "refused.txt": "refused.example\n", "dropped.txt": "dropped.example\n",
                                                "quiet.txt": "quiet.example\n"])
        let dig = resolver.dig
        let nx = try dig.query("a.nx.example")
        XCTAssertEqual(nx.status, "NXDOMAIN", nx.description)
        XCTAssertEqual(nx.ede, "15 (Blocked): (Gambling; UU ITE art. 27)", nx.description)
        XCTAssertTrue(nx.authority.first?.hasPrefix("nx.example.") == true, nx.description)

        let nodata = try dig.query("nodata.example", "A")
        XCTAssertEqual(nodata.status, "NOERROR")
        XCTAssertTrue(nodata.answer.isEmpty, nodata.description)
        XCTAssertEqual(nodata.ede, "17 (Filtered): (nodata)", nodata.description)

        let refused = try dig.query("refused.example")
        XCTAssertEqual(refused.status, "REFUSED", refused.description)
        XCTAssertTrue(refused.ede?.hasPrefix("16 (Censored)") == true, refused.description)

        XCTAssertNil(try dig.query("dropped.example").status)

        let quiet = try dig.query("quiet.example")
        XCTAssertEqual(quiet.answerData, ["192.0.2.99"], quiet.description)
        XCTAssertTrue(quiet.answer[0].contains("\t60\t"), quiet.description)
        XCTAssertTrue(quiet.hasOPT, quiet.description)
        XCTAssertNil(quiet.ede, quiet.description)
    }

    func testLandingPageCNAMEWithItsAddress() throws {
        let list = #"{ name: negative, path: n.txt, category: "Negative content", sinkhole: { cname: internetpositif.example.id, ipv4: 192.0.2.66, ipv6: "2001:db8::66" } }"#
        let resolver = try start([list], files: ["n.txt": "situs-judi.example\n"])
        let a = try resolver.dig.query("www.situs-judi.example", "A")
        XCTAssertEqual(a.answer.count, 2, a.description)
        XCTAssertTrue(a.answer[0].hasPrefix("www.situs-judi.example.\t"), a.description)
        XCTAssertTrue(a.answer[0].hasSuffix("CNAME\tinternetpositif.example.id."), a.description)
        XCTAssertTrue(a.answer[1].hasPrefix("internetpositif.example.id. "), a.description)
        XCTAssertEqual(a.answerData.last, "192.0.2.66", a.description)
        let aaaa = try resolver.dig.query("situs-judi.example", "AAAA", ["+tcp"])
        XCTAssertEqual(aaaa.answerData, ["internetpositif.example.id.", "2001:db8::66"], aaaa.description)
        let mx = try resolver.dig.query("situs-judi.example", "MX")
        XCTAssertEqual(mx.answerData, ["internetpositif.example.id."], mx.description)
    }

    func testListWindowOpensDuringTheTestWithoutReload() throws {
        let opens = Date().addingTimeInterval(3)
        let formatter = ISO8601DateFormatter()
        let list = #"{ name: sanction, path: s.txt, category: "Sanction", active_from: "\#(formatter.string(from: opens))" }"#
        let resolver = try start([list], files: ["s.txt": "later.example\n"])
        let before = try resolver.dig.query("later.example")
        XCTAssertEqual(before.answerData, ["192.0.2.4"], "not in force yet: forwarded \(before)")
        // Poll (bounded) until the window has opened; no SIGHUP is sent.
        var blocked = false
        for _ in 0..<100 where !blocked {
            usleep(100_000)
            blocked = try resolver.dig.query("later.example").answerData == ["0.0.0.0"]
        }
        XCTAssertTrue(blocked, resolver.server.log)
        XCTAssertFalse(resolver.server.log.contains("reloaded policy"), resolver.server.log)
        XCTAssertTrue(resolver.server.log.contains("list schedule turned"), resolver.server.log)
    }

    func testMonitorModeAnswersNormallyAndLogsEachHit() throws {
        let resolver = try start([#"{ name: pse-watch, path: w.txt, action: monitor }"#], files: ["w.txt": "watched.example\n"])
        for _ in 0..<3 {
            XCTAssertEqual(try resolver.dig.query("watched.example").answerData, ["192.0.2.3"])
        }
        XCTAssertTrue(TestTools.waitUntil(attempts: 40) {
            resolver.server.log.components(separatedBy: "action=monitor list=pse-watch name=watched.example. client=127.0.0.1")
                .count == 4
        }, resolver.server.log)
    }

    func testReloadFailureKeepsTheOldPolicyForRPZToo() throws {
        let resolver = try start([#"{ name: rpz, path: policy.rpz, format: rpz }"#], files: ["policy.rpz": try Self.rpzFixture()])
        XCTAssertEqual(try resolver.dig.query("judi.example").status, "NXDOMAIN")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("policy.rpz"))
        XCTAssertTrue(try resolver.reload().contains("reload failed"))
        XCTAssertEqual(try resolver.dig.query("judi.example").status, "NXDOMAIN")
    }

    /// A list file overwritten with binary junk and reloaded keeps its names blocked (logged, and
    /// `dns_list_stale` 1); once a valid file is written again, the next reload takes it.
    func testJunkListFileKeepsItsNamesBlockedUntilAValidFileIsReloaded() throws {
        let metricsPort = try TestTools.freePort()
        let resolver = try ResolverUnderTest(folder: folder, files: ["pse.txt": "later.example\n"],
                                             lists: [#"{ name: pse, path: pse.txt }"#], upstreamPorts: [upstream.port],
                                             extraConfig: "metrics: { listen: \"127.0.0.1:\(metricsPort)\" }")
        func stale() throws -> String? {
            try TestTools.httpGet(port: metricsPort, path: "/metrics")?.body.split(separator: "\n")
                .first { $0.hasPrefix("dns_list_stale{list=\"pse\"}") }.map(String.init)
        }
        XCTAssertEqual(try resolver.dig.query("later.example").answerData, ["0.0.0.0"])

        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131) }).write(to: folder.appendingPathComponent("pse.txt"))
        XCTAssertTrue(try resolver.reload().contains("reloaded policy"))
        XCTAssertTrue(TestTools.waitUntil { resolver.server.log.contains("list kept its previous entries") },
                      resolver.server.log)
        let kept = try XCTUnwrap(resolver.server.log.split(separator: "\n").first { $0.contains("list kept its previous entries") })
        XCTAssertTrue(kept.contains("error"), String(kept))
        XCTAssertTrue(kept.contains("list=pse") && kept.contains("file=pse.txt") && kept.contains("reason=no valid entries"),
                      String(kept))
        XCTAssertEqual(try resolver.dig.query("later.example").answerData, ["0.0.0.0"], resolver.server.log)
        XCTAssertEqual(try stale()?.split(separator: " ").last.flatMap { Double($0) }, 1)

        try resolver.write("pse.txt", "stable.example\n")
        XCTAssertTrue(try resolver.reload().contains("reloaded policy"))
        XCTAssertEqual(try resolver.dig.query("stable.example").answerData, ["0.0.0.0"], resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("later.example").answerData, ["192.0.2.4"], "no longer listed")
        XCTAssertEqual(try stale()?.split(separator: " ").last.flatMap { Double($0) }, 0)
    }

    /// Reloads while a client keeps asking: every query gets an answer, and the right one.
    func testReloadsUnderQueriesLoseNothing() throws {
        var names = (0..<20_000).map { "blocked\($0).example.co.id" }
        let resolver = try start([#"{ name: big, path: big.txt, category: "Big" }"#],
                                 files: ["big.txt": names.joined(separator: "\n") + "\n"])
        let blocked = RawDNS.query(id: 1, name: "blocked7.example.co.id")
        let allowed = RawDNS.query(id: 2, name: "stable.example")
        let state = QueryLoopState()
        let port = resolver.port
        let client = Thread {
            while state.isRunning {
                for (message, expectBlocked) in [(blocked, true), (allowed, false)] {
                    let reply = RawDNS.udpExchange(message, port: port, milliseconds: 2000)
                    let ok = reply.map { reply -> Bool in
                        // The last 4 bytes of a one-A-record answer are the address.
                        let address = Array(reply.suffix(4))
                        return RawDNS.rcode(reply) == 0 && address == (expectBlocked ? [0, 0, 0, 0] : [192, 0, 2, 5])
                    } ?? false
                    state.record(ok ? nil : "\(expectBlocked ? "blocked" : "allowed"): \(reply.map { "\($0)" } ?? "no answer")")
                }
            }
        }
        client.start()
        for round in 0..<4 {
            names.append("extra\(round).example")
            try resolver.write("big.txt", names.joined(separator: "\n") + "\n")
            XCTAssertTrue(try resolver.reload().contains("reloaded policy"))
        }
        state.stop()
        XCTAssertTrue(TestTools.waitUntil(attempts: 100) { client.isFinished })
        let (total, failures) = state.results
        XCTAssertGreaterThan(total, 20)
        XCTAssertEqual(failures, [], "of \(total) queries")
        XCTAssertEqual(try resolver.dig.query("extra3.example").answerData, ["0.0.0.0"])
    }
}

/// What the query loop of `testReloadsUnderQueriesLoseNothing` saw, shared with its thread.
final class QueryLoopState: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private var asked = 0
    private var wrong: [String] = []

    var isRunning: Bool { lock.withLock { running } }
    var results: (Int, [String]) { lock.withLock { (asked, wrong) } }

    func stop() { lock.withLock { running = false } }

    /// Counts one query; `failure` describes it when its answer was missing or wrong.
    func record(_ failure: String?) {
        lock.withLock {
            asked += 1
            if let failure { wrong.append("query \(asked): \(failure)") }
        }
    }
}

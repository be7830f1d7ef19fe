import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Cache, upstream pool, EDNS, access control, rate limits and IPv6, through the built binary.
/// Tests that must know how many queries reached the upstream use `CountingUpstream`; the others
/// use ldns-testns.
final class ResolvingIntegrationTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func resolver(_ ports: [Int], extra: String = "", threads: Int = 2, upstreams: [String]? = nil,
                  lists: [String] = [], files: [String: String] = [:], listenIPv6: Bool = false) throws -> ResolverUnderTest {
        try ResolverUnderTest(folder: folder, files: files, lists: lists, upstreamPorts: ports, timeoutMilliseconds: 400,
                              extraConfig: extra, listenIPv6: listenIPv6, upstreams: upstreams, threads: threads)
    }

    /// The TTL (second field) of the first answer record.
    func ttl(_ result: Dig.Result) -> Int? {
        result.answer.first.flatMap { line in
            Int(line.split(whereSeparator: { $0 == "\t" || $0 == " " })[1])
        }
    }

    func testCacheHitDoesNotReachTheUpstreamAndItsTTLCountsDown() throws {
        let upstream = try CountingUpstream(ttl: 300)
        let server = try resolver([upstream.port])
        let first = try server.dig.query("cached.example")
        XCTAssertEqual(first.answerData, ["192.0.2.53"], first.description)
        XCTAssertEqual(ttl(first), 300)
        sleep(2)
        // Over TCP too: the cache is per event loop, so ask on the loop that cached it, over UDP,
        // and check the count after both.
        let second = try server.dig.query("CACHED.example")
        XCTAssertEqual(second.answerData, ["192.0.2.53"], second.description)
        XCTAssertTrue(second.answer.first?.hasPrefix("CACHED.example.") == true, "the client's case: \(second)")
        let secondTTL = try XCTUnwrap(ttl(second))
        // Two event loops each keep a cache: the second query may land on the other loop and be a
        // miss there; one more query on each then certainly hits.
        if upstream.count(of: "cached.example") == 1 {
            XCTAssertLessThan(secondTTL, 300, second.description)
        }
        for _ in 0..<6 { _ = try server.dig.query("cached.example") }
        XCTAssertLessThanOrEqual(upstream.count(of: "cached.example"), 2, "at most one upstream query per event loop")
    }

    func testCacheOnOneLoopServesRepeatsAndNegativeAnswers() throws {
        let upstream = try CountingUpstream(ttl: 300)
        let server = try resolver([upstream.port], threads: 1)
        XCTAssertEqual(try server.dig.query("once.example").answerData, ["192.0.2.53"])
        sleep(1)
        let again = try server.dig.query("once.example")
        XCTAssertEqual(again.answerData, ["192.0.2.53"])
        XCTAssertEqual(upstream.count(of: "once.example"), 1)
        XCTAssertLessThan(try XCTUnwrap(ttl(again)), 300, again.description)

        let negative = try server.dig.query("nx.example")
        XCTAssertEqual(negative.status, "NXDOMAIN", negative.description)
        XCTAssertEqual(try server.dig.query("nx.example").status, "NXDOMAIN")
        XCTAssertEqual(upstream.count(of: "nx.example"), 1, "NXDOMAIN is cached (RFC 2308)")
        // DO is part of the key: a DNSSEC query is asked separately, with DO passed upstream.
        XCTAssertEqual(try server.dig.query("once.example", "A", ["+dnssec"]).answerData.first, "192.0.2.53")
        XCTAssertEqual(upstream.count(of: "once.example"), 2)
    }

    func testDOAndCDBitsReachTheUpstream() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port], threads: 1)
        _ = try server.dig.query("plain.example")
        _ = try server.dig.query("signed.example", "A", ["+dnssec", "+cd"])
        let seen = upstream.queries
        XCTAssertEqual(seen.first { $0.name == "plain.example" }.map { [$0.dnssecOK, $0.checkingDisabled] }, [false, false])
        XCTAssertEqual(seen.first { $0.name == "signed.example" }.map { [$0.dnssecOK, $0.checkingDisabled] }, [true, true])
    }

    func testDOBitRoundTripBringsTheSignaturesBack() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port], threads: 1)
        let signed = try server.dig.query("signed.example", "A", ["+dnssec"])
        XCTAssertEqual(signed.answer.count, 2, signed.description)
        XCTAssertTrue(signed.answer.contains { $0.contains("\tRRSIG\tA 13 2 300") }, signed.description)
        XCTAssertTrue(signed.output.contains("; EDNS: version: 0, flags: do;"), "DO back to the client: \(signed)")
        XCTAssertFalse(signed.flags.contains("ad"), signed.description)
        // From the cache, the same: the DO bit is part of the key.
        let cached = try server.dig.query("signed.example", "A", ["+dnssec"])
        XCTAssertEqual(cached.answer.count, 2, cached.description)
        XCTAssertEqual(upstream.count(of: "signed.example"), 1)
        let plain = try server.dig.query("signed.example", "A")
        XCTAssertEqual(plain.answer.count, 1, plain.description)
        XCTAssertFalse(plain.output.contains("flags: do"), plain.description)
    }

    /// A TTL with the top bit set counts as 0 (RFC 2181 8): relayed as 0 on the first answer,
    /// and so not cached (the next query goes upstream again), where it used to be relayed as
    /// 4294967295 and then cached for max_ttl.
    func testTTLWithTheTopBitSetIsRelayedAsZero() throws {
        let upstream = try CountingUpstream(ttl: 0xFFFF_FFFF)
        let server = try resolver([upstream.port], threads: 1)
        for _ in 0..<2 {
            let answer = try server.dig.query("huge-ttl.example")
            XCTAssertEqual(answer.answerData, ["192.0.2.53"], answer.description)
            XCTAssertEqual(ttl(answer), 0, answer.description)
        }
        XCTAssertEqual(upstream.count(of: "huge-ttl.example"), 2, "a TTL of 0 is not cached")
    }

    func testFailoverWithTheFirstUpstreamDeadAndDownMarking() throws {
        let dead = try SilentUpstream()
        let alive = try CountingUpstream()
        let server = try resolver([dead.port, alive.port], extra: "cache: { max_entries: 0 }")
        for index in 0..<5 {
            let answer = try server.dig.query("failover\(index).example")
            XCTAssertEqual(answer.answerData, ["192.0.2.53"], answer.description)
        }
        XCTAssertTrue(TestTools.waitUntil(attempts: 40) { server.server.log.contains("upstream marked down") },
                      server.server.log)
    }

    func testFastestPrefersTheQuickUpstream() throws {
        let slow = try CountingUpstream(address: [192, 0, 2, 1], delayMilliseconds: 150)
        let quick = try CountingUpstream(address: [192, 0, 2, 2])
        let server = try resolver([slow.port, quick.port], extra: "upstream_strategy: fastest")
        for index in 0..<40 {
            XCTAssertEqual(try server.dig.query("fast\(index).example").status, "NOERROR")
        }
        XCTAssertGreaterThan(quick.queries.count, 30, "quick \(quick.queries.count), slow \(slow.queries.count)")
        XCTAssertGreaterThan(slow.queries.count, 0, "the slow one is still probed now and then")
    }

    func testRoundRobinSpreadsQueries() throws {
        let first = try CountingUpstream()
        let second = try CountingUpstream()
        let server = try resolver([first.port, second.port], extra: "upstream_strategy: round_robin")
        for index in 0..<20 { _ = try server.dig.query("rr\(index).example") }
        XCTAssertEqual(first.queries.count + second.queries.count, 20)
        XCTAssertGreaterThanOrEqual(min(first.queries.count, second.queries.count), 8)
    }

    func testClientOutsideAccessGetsRefusedWithEDE18() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port], extra: "access: { allow: [\"127.0.0.1/32\"] }")
        let outside = try server.dig.query("x.example", "A", ["-b", "127.0.0.2"])
        XCTAssertEqual(outside.status, "REFUSED", outside.description)
        XCTAssertTrue(outside.ede?.hasPrefix("18 (Prohibited)") == true, outside.description)
        XCTAssertEqual(try server.dig.query("x.example").answerData, ["192.0.2.53"])
        XCTAssertEqual(upstream.queries.count, 1, "the refused query did no work")
    }

    func testFloodFromOneClientIsLimitedWhileAnotherIsAnswered() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port], extra: "rate_limit: { per_client_qps: 5, burst: 5, action: truncate }",
                                  threads: 1)
        var truncated = 0
        for index in 0..<60 {
            if let reply = RawDNS.udpExchange(RawDNS.query(id: UInt16(index), name: "flood.example"), port: server.port),
               RawDNS.flags(reply) & 0x0200 != 0 {
                truncated += 1
            }
        }
        XCTAssertGreaterThan(truncated, 30, "most of a 60-query burst is over a 5/s limit")
        let other = try server.dig.query("flood.example", "A", ["-b", "127.0.1.2"])
        XCTAssertEqual(other.answerData, ["192.0.2.53"], other.description)
        XCTAssertFalse(other.flags.contains("tc"), other.description)
        // Over TCP the limited client is answered: that is where TC sends it.
        XCTAssertEqual(try server.dig.query("flood.example", "A", ["+tcp"]).answerData, ["192.0.2.53"])
    }

    func testANYGetsAMinimalAnswer() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port])
        let any = try server.dig.query("www.example.org", "ANY")
        XCTAssertEqual(any.status, "NOERROR", any.description)
        XCTAssertEqual(any.answer.count, 1, any.description)
        XCTAssertTrue(any.answer[0].contains("HINFO\t\"RFC8482\" \"\""), any.description)
        XCTAssertEqual(upstream.queries.count, 0, "ANY is never forwarded")
    }

    func testOversizeAnswerToSmallBufferClientSetsTC() throws {
        let data = FakeUpstream.entry("large.example.org.", "TXT", match: "opcode qtype qname", records: (0..<12).map {
            "large.example.org. 60 IN TXT \"\($0) " + String(repeating: "x", count: 240) + "\""
        })
        let upstream = try FakeUpstream(data: data, folder: folder)
        let server = try resolver([upstream.port])
        for size in ["512", "1232", "4096"] {
            let small = try server.dig.query("large.example.org", "TXT", ["+bufsize=\(size)", "+ignore"])
            XCTAssertTrue(small.flags.contains("tc"), "bufsize \(size): \(small)")
            XCTAssertTrue(small.answer.isEmpty, small.description)
        }
        let retried = try server.dig.query("large.example.org", "TXT", ["+bufsize=1232"])
        XCTAssertEqual(retried.answer.count, 12, "dig retries over TCP and gets it all: \(retried)")
    }

    func testIPv6ListenAndUpstream() throws {
        let upstream = try CountingUpstream(address: [192, 0, 2, 66], ipv6: true)
        let server = try resolver([], upstreams: ["\"[::1]:\(upstream.port)\""], listenIPv6: true)
        let answer = try Dig(server: "::1", port: server.port).query("v6.example")
        XCTAssertEqual(answer.answerData, ["192.0.2.66"], answer.description)
        let tcp = try Dig(server: "::1", port: server.port).query("v6.example", "A", ["+tcp"])
        XCTAssertEqual(tcp.answerData, ["192.0.2.66"], tcp.description)
    }

    func testServeStaleWhenEveryUpstreamFails() throws {
        let upstream = try CountingUpstream(ttl: 1)
        let server = try resolver([upstream.port], extra: "cache: { serve_stale: true, max_ttl: 1 }", threads: 1)
        XCTAssertEqual(try server.dig.query("stale.example").answerData, ["192.0.2.53"])
        upstream.stop()
        sleep(2)
        let stale = try server.dig.query("stale.example")
        XCTAssertEqual(stale.status, "NOERROR", stale.description)
        XCTAssertEqual(stale.answerData, ["192.0.2.53"], stale.description)
        XCTAssertEqual(ttl(stale), 30, stale.description)
        let unknown = try server.dig.query("never-seen.example")
        XCTAssertEqual(unknown.status, "SERVFAIL", unknown.description)
    }

    func testTCPConnectionLimitClosesTheOldestIdleConnection() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port], extra: "tcp: { max_connections: 2, idle_timeout_ms: 60000 }", threads: 1)
        let first = try RawDNS.TCPConnection(port: server.port, timeoutMilliseconds: 3000)
        first.sendFramed(RawDNS.query(id: 1, name: "a.example"))
        XCTAssertNotNil(first.readFramed())
        usleep(100_000)
        let second = try RawDNS.TCPConnection(port: server.port)
        second.sendFramed(RawDNS.query(id: 2, name: "b.example"))
        XCTAssertNotNil(second.readFramed())
        let third = try RawDNS.TCPConnection(port: server.port)
        third.sendFramed(RawDNS.query(id: 3, name: "c.example"))
        XCTAssertEqual(third.readFramed().map(RawDNS.id), 3, "the new connection is served")
        XCTAssertTrue(first.isClosedByPeer(), "the connection idle longest made room")
        second.sendFramed(RawDNS.query(id: 4, name: "d.example"))
        XCTAssertEqual(second.readFramed().map(RawDNS.id), 4)
    }

    /// Connections that each hold a query for an upstream that never answers cannot lock out a
    /// client of another network (issue 14, point 5): the network holding the most connections
    /// gives up its oldest.
    func testConnectionsHeldByPendingQueriesCannotLockOutAnotherNetwork() throws {
        let upstream = try CountingUpstream(silent: true)
        let server = try resolver([upstream.port], extra: "tcp: { max_connections: 3, idle_timeout_ms: 60000 }\nquery_timeout_ms: 30000",
                                  threads: 1, lists: ["{ name: pse, path: pse.txt }"], files: ["pse.txt": "paypal.com\n"])
        var held: [RawDNS.TCPConnection] = []
        for index in 0..<3 {
            let connection = try RawDNS.TCPConnection(port: server.port)
            connection.sendFramed(RawDNS.query(id: UInt16(10 + index), name: "slow\(index).example"))
            held.append(connection)
        }
        XCTAssertTrue(TestTools.waitUntil { upstream.queries.count >= 3 }, "every held query reached the upstream")
        let other = try server.dig.query("www.paypal.com", "A", ["+tcp", "-b", "127.0.1.1"])
        XCTAssertEqual(other.answerData, ["0.0.0.0"], "a client of another /24 is answered: \(other)")
        XCTAssertTrue(held[0].isClosedByPeer(), "the oldest connection of the network holding them all made room")
    }

    func testBlockingIsDecidedBeforeTheCache() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port], threads: 1, lists: [#"{ name: late, path: late.txt }"#],
                                  files: ["late.txt": "# empty for now\n"])
        XCTAssertEqual(try server.dig.query("soon-blocked.example").answerData, ["192.0.2.53"])
        try server.write("late.txt", "soon-blocked.example\n")
        XCTAssertTrue(try server.reload().contains("reloaded policy"))
        XCTAssertEqual(try server.dig.query("soon-blocked.example").answerData, ["0.0.0.0"], "blocked at once, though cached")
    }
}

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The query pipeline through the built binary: one cache for every event loop, upstream health
/// across reloads, and the EDNS rules of RFC 6891, 3225 and 8914 on forwarded, cached, blocked and
/// stale answers. Upstreams are `CountingUpstream`s, so that a test knows what reached them.
final class PipelineIntegrationTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    static let blockList = #"{ name: bad, path: b.txt, category: "Bad" }"#
    static let blockFiles = ["b.txt": "blocked.example\n"]

    func resolver(_ ports: [Int], extra: String = "", threads: Int = 1, timeout: Int = 400, lists: [String] = [],
                  files: [String: String] = [:]) throws -> ResolverUnderTest {
        try ResolverUnderTest(folder: folder, files: files, lists: lists, upstreamPorts: ports,
                              timeoutMilliseconds: timeout, extraConfig: extra, threads: threads)
    }

    /// `GET /metrics` on 127.0.0.1:port; the body, or nil.
    func metrics(port: Int) throws -> String? {
        try TestTools.httpGet(port: port, path: "/metrics")?.body
    }

    /// The value of the first series of `metric` whose labels include `label`; nil when there is none.
    func value(_ exposition: String, _ metric: String, _ label: String) -> Double? {
        exposition.split(separator: "\n")
            .first { $0.hasPrefix(metric + "{") && $0.contains(label) }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    // MARK: One cache for all event loops

    /// With four event loops, eight dig runs one after the other (each from a new random source
    /// port, so SO_REUSEPORT spreads them over the loops) reach the upstream once: the loops
    /// share one cache, where each used to keep its own and missed in turn.
    func testRepeatsOnEveryLoopReachTheUpstreamOnce() throws {
        let upstream = try CountingUpstream(ttl: 300)
        let server = try resolver([upstream.port], threads: 4)
        for index in 0..<8 {
            let answer = try server.dig.query("shared.example")
            XCTAssertEqual(answer.answerData, ["192.0.2.53"], "query \(index): \(answer)")
        }
        XCTAssertEqual(upstream.count(of: "shared.example"), 1, "one miss, then hits whatever loop a query lands on")
    }

    /// Fifty identical misses at once, each from its own socket, over four event loops and a slow
    /// upstream: one upstream query answers them all, because identical misses wait on one
    /// pending forward across loops, not one per loop.
    func testConcurrentIdenticalMissesOnFourLoopsReachTheUpstreamOnce() throws {
        let upstream = try CountingUpstream(delayMilliseconds: 300)
        let server = try resolver([upstream.port], threads: 4, timeout: 2000)
        let port = server.port
        let state = QueryLoopState()
        let clients = (0..<50).map { index in
            Thread {
                let reply = RawDNS.udpExchange(RawDNS.query(id: UInt16(index), name: "together.example"), port: port,
                                               milliseconds: 4000)
                let good = reply.map {
                    RawDNS.id($0) == UInt16(index) && RawDNS.rcode($0) == 0 && $0.suffix(4) == [192, 0, 2, 53]
                }
                state.record(good == true ? nil : "client \(index): \(String(describing: reply))")
            }
        }
        clients.forEach { $0.start() }
        XCTAssertTrue(TestTools.waitUntil(attempts: 200) { clients.allSatisfy(\.isFinished) })
        let (count, failures) = state.results
        XCTAssertEqual(count, 50)
        XCTAssertEqual(failures, [])
        XCTAssertEqual(upstream.count(of: "together.example"), 1)
    }

    // MARK: Upstreams across reloads

    /// `dns_upstream_up` reads 0 for an upstream that failed three tries in a row, and a SIGHUP
    /// that changes only a list keeps it so (and the good one at 1): the reload must keep the
    /// pool and its health, where it used to build a new pool that forgot which one is dead.
    func testUpstreamHealthSurvivesAReload() throws {
        let dead = try CountingUpstream(silent: true)
        let good = try CountingUpstream()
        let metricsPort = try TestTools.freePort()
        let server = try resolver([dead.port, good.port], extra: """
            upstream_strategy: ordered
            metrics: { listen: "127.0.0.1:\(metricsPort)" }
            """, timeout: 200, lists: [Self.blockList], files: Self.blockFiles)
        let deadLabel = "upstream=\"127.0.0.1:\(dead.port)\""
        let goodLabel = "upstream=\"127.0.0.1:\(good.port)\""
        // Distinct names (no cache hits), each tried at the dead one first until it is down.
        var asked = 0
        var exposition = ""
        let markedDown = TestTools.waitUntil(attempts: 40) {
            _ = try? server.dig.query("health\(asked).example")
            asked += 1
            exposition = ((try? metrics(port: metricsPort)) ?? nil) ?? ""
            return value(exposition, "dns_upstream_up", deadLabel) == 0
        }
        XCTAssertTrue(markedDown, "after \(asked) queries, no dns_upstream_up 0 for \(deadLabel):\n\(exposition)")
        XCTAssertGreaterThanOrEqual(dead.queries.count, 3, "it was tried")
        let before = try XCTUnwrap(try metrics(port: metricsPort))
        XCTAssertEqual(value(before, "dns_upstream_up", goodLabel), 1, before)

        try server.write("b.txt", "blocked.example\nmore.example\n")
        XCTAssertTrue(try server.reload().contains("reloaded policy"))
        XCTAssertEqual(try server.dig.query("more.example").answerData, ["0.0.0.0"], "the reload took effect")
        let after = try XCTUnwrap(try metrics(port: metricsPort))
        XCTAssertEqual(value(after, "dns_upstream_up", deadLabel), 0, "still down after the reload:\n\(after)")
        XCTAssertEqual(value(after, "dns_upstream_up", goodLabel), 1, after)
    }

    /// A SIGHUP whose config puts a new upstream first (ordered) sends the next miss there: the
    /// pool follows the config's upstream list on reload, not only the lists.
    func testReloadThatAddsAnUpstreamUsesIt() throws {
        let first = try CountingUpstream(address: [192, 0, 2, 1])
        let added = try CountingUpstream(address: [192, 0, 2, 2])
        let server = try resolver([first.port], extra: "upstream_strategy: ordered")
        XCTAssertEqual(try server.dig.query("before.example").answerData, ["192.0.2.1"])

        let config = try String(contentsOf: server.configURL, encoding: .utf8)
        let rewritten = config.replacingOccurrences(
            of: "upstreams: [\"127.0.0.1:\(first.port)\"]",
            with: "upstreams: [\"127.0.0.1:\(added.port)\", \"127.0.0.1:\(first.port)\"]")
        XCTAssertNotEqual(rewritten, config, "the config names the first upstream as expected")
        try rewritten.write(to: server.configURL, atomically: true, encoding: .utf8)
        XCTAssertTrue(try server.reload().contains("reloaded policy"))

        let after = try server.dig.query("after.example")
        XCTAssertEqual(after.answerData, ["192.0.2.2"], after.description)
        XCTAssertEqual(added.count(of: "after.example"), 1)
        XCTAssertEqual(first.count(of: "after.example"), 0)
    }

    // MARK: EDNS (RFC 6891, 3225, 8914)

    /// A client that sent no OPT gets none back (RFC 6891 §7): not on a forwarded answer (though
    /// the upstream's reply has one), not on the cached repeat, not on a cached answer first asked
    /// by an EDNS client, not on a blocked answer. ARCOUNT is 0 in each.
    func testNoOPTToAClientThatSentNone() throws {
        let upstream = try CountingUpstream(replyOPT: .init())
        let server = try resolver([upstream.port], lists: [Self.blockList], files: Self.blockFiles)
        let withEDNS = try server.dig.query("edns-first.example")
        XCTAssertTrue(withEDNS.hasOPT, "an EDNS client gets an OPT: \(withEDNS)")

        let cases = [("plain.example", "forwarded"), ("plain.example", "cached"),
                     ("edns-first.example", "cached from an EDNS client's miss"), ("blocked.example", "blocked")]
        for (name, kind) in cases {
            let reply = try server.dig.query(name, "A", ["+noedns"])
            XCTAssertEqual(reply.status, "NOERROR", "\(kind): \(reply)")
            XCTAssertEqual(reply.answer.count, 1, "\(kind): \(reply)")
            XCTAssertFalse(reply.hasOPT, "\(kind): \(reply)")
            XCTAssertEqual(reply.additionalCount, 0, "\(kind): \(reply)")
        }
        XCTAssertEqual(upstream.count(of: "plain.example"), 1, "the repeat came from the cache")
        XCTAssertEqual(upstream.count(of: "edns-first.example"), 1, "so did the plain ask of an EDNS client's name")
    }

    /// An OPT of version 1 gets BADVERS with an OPT of version 0 (RFC 6891 §6.1.3), for a name
    /// that would be forwarded and for a blocked one, and nothing is asked upstream; version 0
    /// is forwarded as usual.
    func testEDNSVersionOneGetsBADVERSAndIsNotForwarded() throws {
        let upstream = try CountingUpstream(replyOPT: .init())
        let server = try resolver([upstream.port], lists: [Self.blockList], files: Self.blockFiles)
        for name in ["forwarded.example", "blocked.example"] {
            let reply = try server.dig.query(name, "A", ["+edns=1", "+noednsnegotiation"])
            XCTAssertEqual(reply.status, "BADVERS", "\(name): \(reply)")
            XCTAssertTrue(reply.edns?.hasPrefix("version: 0,") == true, "\(name): \(reply)")
            XCTAssertTrue(reply.answer.isEmpty, "\(name): \(reply)")
        }
        XCTAssertEqual(upstream.queries.map(\.name), [], "the upstream never saw a version-1 query")
        XCTAssertEqual(try server.dig.query("forwarded.example", "A", ["+edns=0"]).answerData, ["192.0.2.53"])
        XCTAssertEqual(upstream.count(of: "forwarded.example"), 1)
    }

    /// A query with two OPT records, or with an OPT whose owner is not the root, is FORMERR
    /// (RFC 6891 §6.1.1) with the query's ID, and is not forwarded; the same query with one
    /// proper OPT is answered, so the messages are otherwise well formed.
    func testTwoOPTsOrAnOPTNotOwnedByTheRootGetFORMERR() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port])
        let malformed: [(String, UInt16, [[UInt8]])] = [
            ("two-opts.example", 0x5151, [RawDNS.opt(), RawDNS.opt()]),
            ("owned-opt.example", 0x5252, [RawDNS.opt(owner: [1, UInt8(ascii: "x"), 0])]),
        ]
        for (name, id, records) in malformed {
            let message = RawDNS.appendingAdditionals(records, to: RawDNS.query(id: id, name: name))
            let reply = try XCTUnwrap(RawDNS.udpExchange(message, port: server.port), "\(name): no reply")
            XCTAssertEqual(RawDNS.id(reply), id, name)
            XCTAssertNotEqual(RawDNS.flags(reply) & 0x8000, 0, "\(name): a response")
            XCTAssertEqual(RawDNS.rcode(reply), 1, "\(name): FORMERR")
        }
        let proper = RawDNS.appendingAdditionals([RawDNS.opt()], to: RawDNS.query(id: 0x5353, name: "one-opt.example"))
        let answered = try XCTUnwrap(RawDNS.udpExchange(proper, port: server.port))
        XCTAssertEqual(RawDNS.rcode(answered), 0)
        XCTAssertEqual(upstream.queries.map(\.name), ["one-opt.example"], "the malformed ones were not forwarded")
    }

    /// The DO bit of the query comes back in the OPT (RFC 3225) on a blocked answer, a forwarded
    /// one and its cached repeat. This upstream's OPT lacks DO, so only the resolver's own OPT
    /// can carry it; a query without DO gets none.
    func testDOBitIsEchoedOnBlockedForwardedAndCachedAnswers() throws {
        let upstream = try CountingUpstream(replyOPT: .init(echoDO: false))
        let server = try resolver([upstream.port], lists: [Self.blockList], files: Self.blockFiles)
        let cases = [("blocked.example", "blocked"), ("signed.example", "forwarded"), ("signed.example", "cached")]
        for (name, kind) in cases {
            let reply = try server.dig.query(name, "A", ["+dnssec"])
            XCTAssertEqual(reply.status, "NOERROR", "\(kind): \(reply)")
            XCTAssertTrue(reply.edns?.contains("flags: do;") == true, "\(kind): \(reply)")
        }
        XCTAssertEqual(upstream.count(of: "signed.example"), 1, "the repeat came from the cache")
        let plain = try server.dig.query("unsigned.example")
        XCTAssertTrue(plain.hasOPT, plain.description)
        XCTAssertFalse(plain.edns?.contains("flags: do") == true, plain.description)
    }

    /// An answer served stale (upstream gone, TTL run out) carries EDE 3 (Stale Answer, RFC 8914)
    /// to an EDNS client, and no OPT at all to a client that sent none, though the cached reply
    /// had one.
    func testStaleAnswerCarriesEDE3AndNoOPTWithoutEDNS() throws {
        let upstream = try CountingUpstream(ttl: 1, replyOPT: .init())
        let server = try resolver([upstream.port], extra: "cache: { serve_stale: true, max_ttl: 1 }")
        XCTAssertEqual(try server.dig.query("stale.example").answerData, ["192.0.2.53"])
        upstream.stop()
        sleep(2)  // the entry's TTL (1 s) runs out: from now on only stale
        let stale = try server.dig.query("stale.example")
        XCTAssertEqual(stale.answerData, ["192.0.2.53"], stale.description)
        XCTAssertTrue(stale.ede?.hasPrefix("3 (Stale Answer)") == true, stale.description)
        let plain = try server.dig.query("stale.example", "A", ["+noedns"])
        XCTAssertEqual(plain.answerData, ["192.0.2.53"], plain.description)
        XCTAssertFalse(plain.hasOPT, plain.description)
        XCTAssertEqual(plain.additionalCount, 0, plain.description)
    }

    /// A blocked answer of about 550 bytes (long name, 300-character category in the EDE text).
    static let longCategory = String(repeating: "a rather long category text ", count: 11)
    static let longName = [String](repeating: String(repeating: "n", count: 60), count: 3).joined(separator: ".")
        + ".blocked.example"
    static let longList = "{ name: long, path: b.txt, category: \"\(longCategory)\" }"

    /// With `edns_udp_size: 512`, a blocked answer larger than 512 bytes is TC over UDP though
    /// the client offers 4096: our size caps what we send, for blocked answers as for forwarded.
    func testBlockedAnswerLargerThanEdnsUDPSizeIsTruncated() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port], extra: "edns_udp_size: 512", lists: [Self.longList],
                                  files: Self.blockFiles)
        let reply = try server.dig.query(Self.longName, "A", ["+bufsize=4096", "+ignore"])
        XCTAssertEqual(reply.status, "NOERROR", reply.description)
        XCTAssertTrue(reply.flags.contains("tc"), reply.description)
        XCTAssertTrue(reply.answer.isEmpty, reply.description)
        XCTAssertEqual(try server.dig.query(Self.longName, "A", ["+tcp"]).answerData, ["0.0.0.0"], "whole over TCP")
    }

    /// The same blocked answer without `edns_udp_size` (1232) comes whole over UDP to a 4096
    /// client, EDE text and all: the answer really is between 512 and 1232 bytes.
    func testBlockedAnswerWithinTheDefaultEdnsUDPSizeIsWhole() throws {
        let upstream = try CountingUpstream()
        let server = try resolver([upstream.port], lists: [Self.longList], files: Self.blockFiles)
        let reply = try server.dig.query(Self.longName, "A", ["+bufsize=4096", "+ignore"])
        XCTAssertFalse(reply.flags.contains("tc"), reply.description)
        XCTAssertEqual(reply.answerData, ["0.0.0.0"], reply.description)
        // The resolver may shorten a long EDE text; the start of the category is there.
        XCTAssertTrue(reply.ede?.hasPrefix("16 (Censored): (" + Self.longCategory.prefix(200)) == true,
                      reply.description)
        let size = try XCTUnwrap(reply.capture(#"MSG SIZE  rcvd: ([0-9]+)"#).flatMap { Int($0) }, reply.description)
        XCTAssertGreaterThan(size, 512, "large enough that 512 would truncate it")
    }

    /// The OPT of a forwarded answer, and of its cached repeat, advertises our `edns_udp_size`
    /// (1400), not the 4000 the upstream's OPT said: it is the resolver's OPT, not the relayed one.
    func testForwardedAnswerAdvertisesOurEdnsUDPSize() throws {
        let upstream = try CountingUpstream(replyOPT: .init(udpSize: 4000))
        let server = try resolver([upstream.port], extra: "edns_udp_size: 1400")
        for kind in ["forwarded", "cached"] {
            let reply = try server.dig.query("sized.example", "A", ["+bufsize=4096"])
            XCTAssertEqual(reply.answerData, ["192.0.2.53"], "\(kind): \(reply)")
            XCTAssertEqual(reply.ednsUDPSize, 1400, "\(kind): \(reply)")
        }
        XCTAssertEqual(upstream.count(of: "sized.example"), 1, "the repeat came from the cache")
    }
}

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The built binary, a real upstream (ldns-testns) and dig, as an operator would use them.
final class ResolverIntegrationTests: XCTestCase {
    var folder: URL!
    var upstream: FakeUpstream!
    var resolver: ResolverUnderTest!

    static let upstreamData = [
        FakeUpstream.entry("www.example.org.", "A", records: ["www.example.org. 3600 IN A 192.0.2.10"]),
        FakeUpstream.entry("shop.example.co.id.", "A", records: ["shop.example.co.id. 600 IN A 192.0.2.20"]),
        FakeUpstream.entry("www.yahoo.com.", "A", records: ["www.yahoo.com. 300 IN A 192.0.2.30"]),
        FakeUpstream.entry("big.example.org.", "TXT", flags: "QR RD RA TC", match: "opcode qtype qname UDP"),
        FakeUpstream.entry("big.example.org.", "TXT", match: "opcode qtype qname TCP",
                           records: ["big.example.org. 60 IN TXT \"the whole answer, over TCP\""]),
        FakeUpstream.entry("missing.example.org.", "A", rcode: "NXDOMAIN"),
        FakeUpstream.entry("large.example.org.", "TXT", records: (0..<12).map { index in
            "large.example.org. 60 IN TXT \"\(index) " + String(repeating: "x", count: 240) + "\""
        }),
    ].joined()

    static let lists = [
        #"{ name: pse-unregistered, path: pse-unregistered.txt, format: domains, action: block, category: "PSE not registered" }"#,
        #"{ name: illegal-commerce, path: commerce.hosts, format: hosts, action: block, category: "Illegal commerce" }"#,
        #"{ name: pse-registered, path: pse-registered.txt, format: domains, action: allow }"#,
        #"{ name: registered-parents, path: parents.txt, format: domains, action: allow }"#,
    ]

    static let files = [
        "pse-unregistered.txt": "# unregistered\npaypal.com\nSteamPowered.com.\nyahoo.com\nhttp://bad.example/\n",
        "commerce.hosts": "0.0.0.0 judi.example.co.id obat.example.id\n",
        "pse-registered.txt": "yahoo.com\n",
        "parents.txt": "example.co.id\n",
    ]

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
        upstream = try FakeUpstream(data: Self.upstreamData, folder: folder)
        resolver = try ResolverUnderTest(folder: folder, files: Self.files, lists: Self.lists,
                                         upstreamPorts: [upstream.port])
    }

    override func tearDownWithError() throws {
        resolver = nil
        upstream = nil
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: Blocked answers

    func testBlockedAAndAAAAGetTheSinkholeOverUDPAndTCP() throws {
        for transport in [[], ["+tcp"]] {
            let a = try resolver.dig.query("www.paypal.com", "A", transport)
            XCTAssertEqual(a.status, "NOERROR", a.description)
            XCTAssertEqual(a.answer.count, 1, a.description)
            XCTAssertEqual(a.answerData, ["0.0.0.0"], a.description)
            XCTAssertTrue(a.answer[0].hasPrefix("www.paypal.com.\t\t300\tIN\tA"), a.description)
            XCTAssertEqual(Set(a.flags), ["qr", "rd", "ra"], a.description)

            let aaaa = try resolver.dig.query("www.paypal.com", "AAAA", transport)
            XCTAssertEqual(aaaa.answerData, ["::"], aaaa.description)
        }
    }

    func testBlockedOtherTypeIsNoDataWithSOA() throws {
        for transport in [[], ["+tcp"]] {
            let mx = try resolver.dig.query("www.paypal.com", "MX", transport)
            XCTAssertEqual(mx.status, "NOERROR", mx.description)
            XCTAssertTrue(mx.answer.isEmpty, mx.description)
            XCTAssertEqual(mx.authority.count, 1, mx.description)
            XCTAssertTrue(mx.authority[0].contains("\tSOA\t"), mx.description)
            XCTAssertTrue(mx.authority[0].hasPrefix("paypal.com."), mx.description)
            XCTAssertTrue(mx.authority[0].hasSuffix(" 300"), "negative TTL is the sinkhole TTL: \(mx)")
        }
    }

    func testSubdomainCaseAndHostsListAreBlocked() throws {
        XCTAssertEqual(try resolver.dig.query("a.b.store.steampowered.com").answerData, ["0.0.0.0"])
        let mixed = try resolver.dig.query("WWW.PayPal.COM")
        XCTAssertEqual(mixed.answerData, ["0.0.0.0"], mixed.description)
        XCTAssertEqual(mixed.question.first?.hasPrefix("WWW.PayPal.COM."), true, "question as asked: \(mixed)")
        let hosts = try resolver.dig.query("obat.example.id")
        XCTAssertEqual(hosts.answerData, ["0.0.0.0"], hosts.description)
        XCTAssertEqual(hosts.ede, "16 (Censored): (Illegal commerce)", hosts.description)
    }

    func testEDEWithEDNSAndNoOPTWithout() throws {
        let withEDNS = try resolver.dig.query("paypal.com", "A", ["+edns=0"])
        XCTAssertTrue(withEDNS.hasOPT, withEDNS.description)
        XCTAssertEqual(withEDNS.ede, "16 (Censored): (PSE not registered)", withEDNS.description)
        let mx = try resolver.dig.query("paypal.com", "MX", ["+edns=0"])
        XCTAssertEqual(mx.ede, "16 (Censored): (PSE not registered)", mx.description)

        let plain = try resolver.dig.query("paypal.com", "A", ["+noedns"])
        XCTAssertEqual(plain.status, "NOERROR", plain.description)
        XCTAssertFalse(plain.hasOPT, plain.description)
        XCTAssertNil(plain.ede, plain.description)
    }

    // MARK: Precedence

    func testAllowBeatsBlockOnTheSameNameAndSpecificBlockBeatsAllow() throws {
        // yahoo.com is on both the block list and the allow list: allow wins, so it is forwarded.
        let yahoo = try resolver.dig.query("www.yahoo.com")
        XCTAssertEqual(yahoo.answerData, ["192.0.2.30"], yahoo.description)
        // example.co.id is allowed, judi.example.co.id blocked: the more specific block wins.
        XCTAssertEqual(try resolver.dig.query("judi.example.co.id").answerData, ["0.0.0.0"])
        XCTAssertEqual(try resolver.dig.query("shop.example.co.id").answerData, ["192.0.2.20"])
    }

    // MARK: Forwarding

    func testForwardedAnswerAndNXDOMAINAreRelayed() throws {
        for transport in [[], ["+tcp"]] {
            let answer = try resolver.dig.query("www.example.org", "A", transport)
            XCTAssertEqual(answer.status, "NOERROR", answer.description)
            XCTAssertEqual(answer.answerData, ["192.0.2.10"], answer.description)
            XCTAssertTrue(answer.answer[0].contains("3600"), "TTL relayed as is: \(answer)")
            let missing = try resolver.dig.query("missing.example.org", "A", transport)
            XCTAssertEqual(missing.status, "NXDOMAIN", missing.description)
        }
    }

    func testTruncatedUDPAnswerIsRetriedOverTCP() throws {
        let answer = try resolver.dig.query("big.example.org", "TXT", ["+ignore"])
        XCTAssertEqual(answer.status, "NOERROR", answer.description)
        XCTAssertFalse(answer.flags.contains("tc"), answer.description)
        XCTAssertEqual(answer.answerData, ["\"the whole answer, over TCP\""], answer.description)
    }

    func testAnswersLargerThan2KBAreRelayedWhole() throws {
        // Over 1232 bytes: a UDP client is told to retry over TCP, where the whole answer comes.
        let answer = try resolver.dig.query("large.example.org", "TXT", ["+bufsize=4096"])
        XCTAssertEqual(answer.status, "NOERROR", answer.description)
        XCTAssertEqual(answer.answer.count, 12, answer.description)
        let overTCP = try resolver.dig.query("large.example.org", "TXT", ["+tcp"])
        XCTAssertEqual(overTCP.answer.count, 12, overTCP.description)
    }

    func testSilentUpstreamGivesSERVFAILAndFailoverUsesTheNextOne() throws {
        let silent = try SilentUpstream()
        let other = try TestTools.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: other) }
        let onlySilent = try ResolverUnderTest(folder: other, files: [:], lists: [], upstreamPorts: [silent.port],
                                               timeoutMilliseconds: 300)
        let failed = try onlySilent.dig.query("www.example.org")
        XCTAssertEqual(failed.status, "SERVFAIL", failed.description)

        let failoverFolder = try TestTools.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: failoverFolder) }
        let failover = try ResolverUnderTest(folder: failoverFolder, files: [:], lists: [],
                                             upstreamPorts: [silent.port, upstream.port], timeoutMilliseconds: 300)
        let answered = try failover.dig.query("www.example.org")
        XCTAssertEqual(answered.answerData, ["192.0.2.10"], answered.description)
    }

    // MARK: Bad input

    func testMalformedPacketsAreAnsweredOrDroppedAndServingGoesOn() throws {
        let port = resolver.port
        // Too short for a header: dropped.
        XCTAssertNil(RawDNS.udpExchange([0x12, 0x34, 0x01], port: port, milliseconds: 500))
        // A response (QR set): dropped, never answered.
        XCTAssertNil(RawDNS.udpExchange(RawDNS.query(id: 7, name: "paypal.com", flags: 0x8100), port: port,
                                        milliseconds: 500))
        // Two questions: FORMERR with the same ID.
        let two = try XCTUnwrap(RawDNS.udpExchange(RawDNS.query(id: 0x4242, name: "paypal.com", qdcount: 2), port: port))
        XCTAssertEqual(RawDNS.id(two), 0x4242)
        XCTAssertEqual(RawDNS.rcode(two), 1)
        XCTAssertNotEqual(RawDNS.flags(two) & 0x8000, 0)
        // No question at all: FORMERR.
        let none = try XCTUnwrap(RawDNS.udpExchange(RawDNS.query(id: 9, name: "x", qdcount: 0), port: port))
        XCTAssertEqual(RawDNS.rcode(none), 1)
        // A question cut off in the middle of its name: FORMERR.
        let cut = Array(RawDNS.query(id: 10, name: "paypal.com").prefix(17))
        XCTAssertEqual(RawDNS.udpExchange(cut, port: port).map(RawDNS.rcode), 1)
        // A compression pointer that loops: FORMERR, no hang.
        let loop: [UInt8] = [0, 11, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1]
        XCTAssertEqual(RawDNS.udpExchange(loop, port: port).map(RawDNS.rcode), 1)
        // Opcode STATUS (2): NOTIMP. NOTIFY (4) for a zone no list transfers: REFUSED.
        for (opcode, rcode): (UInt16, UInt8) in [(2, 4), (4, 5)] {
            let reply = try XCTUnwrap(RawDNS.udpExchange(RawDNS.query(id: 11, name: "paypal.com", flags: opcode << 11),
                                                         port: port))
            XCTAssertEqual(RawDNS.rcode(reply), rcode)
            XCTAssertEqual((RawDNS.flags(reply) >> 11) & 0xF, opcode)
        }
        // Random garbage of every length up to 64 bytes: whatever happens, the server lives on.
        var generator = SystemRandomNumberGenerator()
        for length in 0...64 {
            let junk = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = RawDNS.udpExchange(junk, port: port, milliseconds: 20)
        }
        XCTAssertTrue(resolver.server.isRunning, resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("www.paypal.com").answerData, ["0.0.0.0"])
        XCTAssertEqual(try resolver.dig.query("www.example.org").answerData, ["192.0.2.10"])
    }

    func testTCPHalfFrameDoesNotHoldUpOthersAndPipelinedQueriesAllGetAnswers() throws {
        let stalled = try RawDNS.TCPConnection(port: resolver.port)
        stalled.sendRaw([0x00, 0x40, 0x12])  // promises 64 bytes, sends one
        XCTAssertEqual(try resolver.dig.query("www.paypal.com", "A", ["+tcp"]).answerData, ["0.0.0.0"])
        XCTAssertEqual(try resolver.dig.query("www.example.org").answerData, ["192.0.2.10"])

        let connection = try RawDNS.TCPConnection(port: resolver.port)
        // A forwarded query first, then a blocked one: both come back on the one connection.
        let frames = [RawDNS.query(id: 1, name: "www.example.org"), RawDNS.query(id: 2, name: "www.paypal.com")]
            .flatMap { [UInt8($0.count >> 8), UInt8($0.count & 0xFF)] + $0 }
        connection.sendRaw(frames)  // one write: both queries arrive together
        let first = try XCTUnwrap(connection.readFramed())
        let second = try XCTUnwrap(connection.readFramed())
        XCTAssertEqual(Set([RawDNS.id(first), RawDNS.id(second)]), [1, 2])
        XCTAssertEqual(RawDNS.rcode(first), 0)
        XCTAssertEqual(RawDNS.rcode(second), 0)
    }

    func testTCPClientThatHalfClosesStillGetsItsAnswers() throws {
        let connection = try RawDNS.TCPConnection(port: resolver.port)
        connection.sendFramed(RawDNS.query(id: 21, name: "www.example.org"))
        connection.sendFramed(RawDNS.query(id: 22, name: "paypal.com"))
        shutdown(connection.fd, Int32(SHUT_WR))
        let ids = [connection.readFramed(), connection.readFramed()].compactMap { $0.map(RawDNS.id) }
        XCTAssertEqual(Set(ids), [21, 22])
        XCTAssertTrue(connection.isClosedByPeer())
    }

    func testIdleTCPConnectionIsClosed() throws {
        let other = try TestTools.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: other) }
        let quick = try ResolverUnderTest(folder: other, files: [:], lists: [], upstreamPorts: [upstream.port],
                                          extraConfig: "tcp: { idle_timeout_ms: 300 }")
        let connection = try RawDNS.TCPConnection(port: quick.port, timeoutMilliseconds: 5000)
        connection.sendRaw([0x00])  // half of a length prefix, then nothing
        XCTAssertTrue(connection.isClosedByPeer())
    }

    // MARK: Reload

    func testSighupAddsAndLiftsABlock() throws {
        XCTAssertEqual(try resolver.dig.query("www.example.org").answerData, ["192.0.2.10"])
        try resolver.write("pse-unregistered.txt", "paypal.com\nexample.org\n")
        XCTAssertTrue(try resolver.reload().contains("reloaded policy"))
        XCTAssertEqual(try resolver.dig.query("www.example.org").answerData, ["0.0.0.0"])

        // Lift the PayPal block: it registered, and the allow list now names it.
        try resolver.write("pse-registered.txt", "yahoo.com\npaypal.com\n")
        XCTAssertTrue(try resolver.reload().contains("reloaded policy"))
        let lifted = try resolver.dig.query("www.paypal.com", "A")
        XCTAssertEqual(lifted.status, "SERVFAIL", "forwarded now (the test upstream does not know it): \(lifted)")
        XCTAssertNotEqual(lifted.answerData, ["0.0.0.0"])
        XCTAssertEqual(try resolver.dig.query("www.example.org").answerData, ["0.0.0.0"])
    }

    func testUnchangedListFilesAreNotParsedAgain() throws {
        try resolver.write("pse-registered.txt", "yahoo.com\nnew.example\n")
        XCTAssertTrue(try resolver.reload().contains("reloaded policy"))
        let lines = resolver.server.log.split(separator: "\n").filter { $0.contains("list loaded") }.suffix(4)
        XCTAssertEqual(lines.filter { $0.contains("reused=true") }.count, 3, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("list=pse-registered") && $0.contains("reused=false") },
                      lines.joined(separator: "\n"))
    }

    func testSighupWithMissingListOrBadYAMLKeepsTheOldPolicy() throws {
        try FileManager.default.removeItem(at: folder.appendingPathComponent("commerce.hosts"))
        let failed = try resolver.reload()
        XCTAssertTrue(failed.contains("reload failed"), failed)
        XCTAssertTrue(failed.contains("commerce.hosts"), failed)
        XCTAssertEqual(try resolver.dig.query("judi.example.co.id").answerData, ["0.0.0.0"])
        XCTAssertEqual(try resolver.dig.query("paypal.com").answerData, ["0.0.0.0"])

        try "lists: [ { name: x\n".write(to: resolver.configURL, atomically: true, encoding: .utf8)
        let bad = try resolver.reload()
        XCTAssertTrue(bad.contains("reload failed") && bad.contains("block-resolver.yml"), bad)
        XCTAssertEqual(try resolver.dig.query("paypal.com").answerData, ["0.0.0.0"])
        XCTAssertTrue(resolver.server.isRunning)
    }

    func testSigtermExitsZero() throws {
        XCTAssertEqual(resolver.server.stop(), 0, resolver.server.log)
        XCTAssertTrue(resolver.server.log.contains("stopped"), resolver.server.log)
    }
}

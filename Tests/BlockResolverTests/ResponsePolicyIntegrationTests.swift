import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The answer judged too (issue: CNAME chains, listed addresses, client networks, precedence),
/// through the built binary with a real upstream (ldns-testns) and dig.
final class ResponsePolicyIntegrationTests: XCTestCase {
    var folder: URL!
    var upstream: FakeUpstream!

    static let upstreamData = [
        // An alias anyone can set up for a listed platform.
        FakeUpstream.entry("alias.cdn.test.", "A", records: [
            "alias.cdn.test. 60 IN CNAME www.paypal.com.", "www.paypal.com. 60 IN A 64.4.250.36",
        ]),
        FakeUpstream.entry("alias.cdn.test.", "AAAA", records: [
            "alias.cdn.test. 60 IN CNAME www.paypal.com.", "www.paypal.com. 60 IN AAAA 2001:db8::36",
        ]),
        // Three CNAMEs: the last name is the listed one.
        FakeUpstream.entry("hop1.test.", "A", records: [
            "hop1.test. 60 IN CNAME hop2.test.", "hop2.test. 60 IN CNAME hop3.test.",
            "hop3.test. 60 IN CNAME end.blocked.test.", "end.blocked.test. 60 IN A 192.0.2.9",
        ]),
        FakeUpstream.entry("www.paypal.com.", "A", records: ["www.paypal.com. 60 IN A 64.4.250.36"]),
        FakeUpstream.entry("garden.example.", "A", records: ["garden.example. 60 IN A 192.0.2.80"]),
        FakeUpstream.entry("x.shop.test.garden.example.", "A", records: ["x.shop.test.garden.example. 60 IN A 192.0.2.81"]),
        FakeUpstream.entry("plain.test.", "A", records: ["plain.test. 60 IN A 198.51.100.66"]),
        FakeUpstream.entry("plain.test.", "AAAA", records: ["plain.test. 60 IN AAAA 2001:db8:bad::1"]),
        FakeUpstream.entry("clean.test.", "A", records: ["clean.test. 60 IN A 203.0.113.5"]),
        FakeUpstream.entry("dual.test.", "A", records: ["dual.test. 60 IN A 192.0.2.44"]),
    ].joined()

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
        upstream = try FakeUpstream(data: Self.upstreamData, folder: folder)
    }

    override func tearDownWithError() throws {
        upstream = nil
        try? FileManager.default.removeItem(at: folder)
    }

    func start(_ lists: [String], files: [String: String], extraConfig: String = "") throws -> ResolverUnderTest {
        try ResolverUnderTest(folder: folder, files: files, lists: lists, upstreamPorts: [upstream.port],
                              extraConfig: extraConfig)
    }

    func testCNAMEChainToAListedNameGetsTheSinkholeFromUpstreamCacheAndAfterAReload() throws {
        let resolver = try start([#"{ name: pse, path: pse.txt, category: "PSE not registered" }"#,
                                  "{ name: later, path: later.txt }"],
                                 files: ["pse.txt": "paypal.com\n", "later.txt": "unrelated.example\n"],
                                 extraConfig: "query_log: { path: queries.log, mode: blocked }")
        let dig = resolver.dig
        for round in ["upstream", "cache"] {
            let answer = try dig.query("alias.cdn.test")
            XCTAssertEqual(answer.status, "NOERROR", "\(round): \(answer)")
            XCTAssertEqual(answer.answerData, ["0.0.0.0"], "the list's sinkhole for the client's own question (\(round)): \(answer)")
            XCTAssertTrue(answer.answer.first?.hasPrefix("alias.cdn.test.") == true, answer.description)
            XCTAssertFalse(answer.output.contains("64.4.250.36"), "the target's address never reaches the client: \(answer)")
            XCTAssertFalse(answer.output.contains("CNAME"), answer.description)
            XCTAssertEqual(answer.ede, "16 (Censored): (PSE not registered; list pse matched cname www.paypal.com.)",
                           answer.description)
        }
        let aaaa = try dig.query("alias.cdn.test", "AAAA")
        XCTAssertEqual(aaaa.answerData, ["::"], aaaa.description)

        // The three-CNAME chain is relayed until its last name is listed; a reload judges the
        // cached answer again at once.
        let relayed = try dig.query("hop1.test")
        XCTAssertEqual(relayed.answerData.last, "192.0.2.9", relayed.description)
        try resolver.write("later.txt", "blocked.test\n")
        XCTAssertTrue(try resolver.reload().contains("reloaded policy"))
        let blocked = try dig.query("hop1.test")
        XCTAssertEqual(blocked.answerData, ["0.0.0.0"], "cached chain judged under the new lists: \(blocked)")
        XCTAssertEqual(blocked.ede, "16 (Censored): (later; list later matched cname end.blocked.test.)", blocked.description)

        // The query log says which kind of trigger matched and what.
        let log = folder.appendingPathComponent("queries.log")
        XCTAssertTrue(TestTools.waitUntil { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("end.blocked.test") })
        let text = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(text.contains(#""list":"pse","trigger":"cname","matched":"www.paypal.com.""#), text)
        XCTAssertTrue(text.contains(#""list":"later","trigger":"cname","matched":"end.blocked.test.""#), text)
    }

    func testAnAllowListedQueryNameKeepsItsChain() throws {
        let resolver = try start(["{ name: pse, path: pse.txt }", "{ name: ok, path: ok.txt, action: allow }"],
                                 files: ["pse.txt": "paypal.com\n", "ok.txt": "alias.cdn.test\n"])
        let answer = try resolver.dig.query("alias.cdn.test")
        XCTAssertEqual(answer.answerData, ["www.paypal.com.", "64.4.250.36"], answer.description)
        XCTAssertNil(answer.ede, answer.description)
    }

    func testAPolicyCNAMEIsFollowedAndAWildcardTargetExpanded() throws {
        let zone = """
            $TTL 300
            @ SOA localhost. root.localhost. 1 3600 600 86400 300
              NS localhost.
            walled.test CNAME garden.example.
            *.shop.test CNAME *.garden.example.
            """
        let resolver = try start(["{ name: rpz, path: policy.rpz, format: rpz, origin: rpz.local }",
                                  "{ name: landing, path: landing.txt, sinkhole: { cname: garden.example } }",
                                  "{ name: fixed, path: fixed.txt, sinkhole: { cname: garden.example, ipv4: 192.0.2.99 } }"],
                                 files: ["policy.rpz": zone, "landing.txt": "paypal.com\n", "fixed.txt": "dual.test\n"])
        // A landing host named without addresses is resolved; with them, they are its address.
        let landing = try resolver.dig.query("www.paypal.com")
        XCTAssertEqual(landing.answerData, ["garden.example.", "192.0.2.80"], landing.description)
        let fixed = try resolver.dig.query("dual.test")
        XCTAssertEqual(fixed.answerData, ["garden.example.", "192.0.2.99"], fixed.description)
        let followed = try resolver.dig.query("walled.test")
        XCTAssertEqual(followed.answerData, ["garden.example.", "192.0.2.80"], followed.description)
        XCTAssertEqual(followed.ede?.hasPrefix("16 (Censored)"), true, followed.description)
        let wildcard = try resolver.dig.query("x.shop.test")
        XCTAssertEqual(wildcard.answerData, ["x.shop.test.garden.example.", "192.0.2.81"], wildcard.description)
        let expanded = try resolver.dig.query("x.shop.test", "CNAME")
        XCTAssertEqual(expanded.answerData, ["x.shop.test.garden.example."], expanded.description)
    }

    func testListedPrecedenceLetsTheFirstListDecide() throws {
        let lists = ["{ name: block, path: block.txt }", "{ name: allow, path: allow.txt, action: allow }"]
        let files = ["block.txt": "paypal.com\n", "allow.txt": "www.paypal.com\n"]
        let specific = try start(lists, files: files)
        XCTAssertEqual(try specific.dig.query("www.paypal.com").answerData, ["64.4.250.36"],
                       "specific: the more specific allow entry decides")
        let listed = try start(lists, files: files, extraConfig: "precedence: listed")
        XCTAssertEqual(try listed.dig.query("www.paypal.com").answerData, ["0.0.0.0"],
                       "listed: the first list with a match decides")
    }

    func testClientsLimitAListToSomeNetworks() throws {
        let resolver = try start([#"{ name: school, path: school.txt, clients: ["127.0.0.2/32", "10.20.0.0/16"] }"#],
                                 files: ["school.txt": "paypal.com\n"])
        let school = try resolver.dig.query("www.paypal.com", "A", ["-b", "127.0.0.2"])
        XCTAssertEqual(school.answerData, ["0.0.0.0"], school.description)
        let other = try resolver.dig.query("www.paypal.com", "A", ["-b", "127.0.0.3"])
        XCTAssertEqual(other.answerData, ["64.4.250.36"], other.description)
        // The answer's chain is judged with the same client scope.
        XCTAssertEqual(try resolver.dig.query("alias.cdn.test", "A", ["-b", "127.0.0.2"]).answerData, ["0.0.0.0"])
        XCTAssertEqual(try resolver.dig.query("alias.cdn.test", "A", ["-b", "127.0.0.3"]).answerData.last, "64.4.250.36")
    }
}

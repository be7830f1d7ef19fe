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
        // A DNAME without the synthesised CNAME: the resolver rewrites the name itself (RFC 6672).
        FakeUpstream.entry("www.old.test.", "A", records: [
            "old.test. 60 IN DNAME paypal.com.", "www.paypal.com. 60 IN A 64.4.250.36",
        ]),
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

    func testAStaleAnswerIsJudgedToo() throws {
        let resolver = try start(["{ name: pse, path: pse.txt }"], files: ["pse.txt": "unrelated.example\n"],
                                 extraConfig: "cache: { serve_stale: true, max_ttl: 1 }")
        XCTAssertEqual(try resolver.dig.query("alias.cdn.test").answerData.last, "64.4.250.36")
        upstream.server.stop()
        try resolver.write("pse.txt", "paypal.com\n")
        XCTAssertTrue(try resolver.reload().contains("reloaded policy"))
        Thread.sleep(forTimeInterval: 1.5)  // past the 1 s max_ttl: only a stale answer is left
        let stale = try resolver.dig.query("alias.cdn.test", "A", ["+time=5"])
        XCTAssertEqual(stale.answerData, ["0.0.0.0"], "the stale chain judged under the new lists: \(stale)")
    }

    func testADNAMESynthesisedNameIsJudged() throws {
        let resolver = try start(["{ name: pse, path: pse.txt }"], files: ["pse.txt": "paypal.com\n"])
        let answer = try resolver.dig.query("www.old.test")
        XCTAssertEqual(answer.answerData, ["0.0.0.0"], answer.description)
        XCTAssertEqual(answer.ede, "16 (Censored): (pse; list pse matched cname www.paypal.com.)", answer.description)
    }

    func testAnAllowListedQueryNameKeepsItsChain() throws {
        let resolver = try start(["{ name: pse, path: pse.txt }", "{ name: ok, path: ok.txt, action: allow }"],
                                 files: ["pse.txt": "paypal.com\n", "ok.txt": "alias.cdn.test\n"])
        let answer = try resolver.dig.query("alias.cdn.test")
        XCTAssertEqual(answer.answerData, ["www.paypal.com.", "64.4.250.36"], answer.description)
        XCTAssertNil(answer.ede, answer.description)
        let explained = try TestTools.run(try TestTools.binary(), ["explain", "--config", resolver.configURL.path,
                                                                   "alias.cdn.test"])
        XCTAssertTrue(explained.output.contains("the allow entry lets its answer's chain through"), explained.output)
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

    func testAnIPsListBlocksAnAnswerAddressV4AndV6() throws {
        let resolver = try start(["{ name: bad, path: bad.ips, format: ips, category: \"Bad hosting\" }",
                                  "{ name: alias, path: alias.ips, format: ips, response: nxdomain }"],
                                 files: ["bad.ips": "# hosting of listed content\n198.51.100.0/24\n2001:db8:bad::/48\n",
                                         "alias.ips": "64.4.250.36\n"])
        let v4 = try resolver.dig.query("plain.test")
        XCTAssertEqual(v4.answerData, ["0.0.0.0"], v4.description)
        XCTAssertEqual(v4.ede, "16 (Censored): (Bad hosting; list bad matched ip 198.51.100.66)", v4.description)
        let v6 = try resolver.dig.query("plain.test", "AAAA")
        XCTAssertEqual(v6.answerData, ["::"], v6.description)
        XCTAssertEqual(v6.ede, "16 (Censored): (Bad hosting; list bad matched ip 2001:db8:bad::1)", v6.description)
        // The address at the end of a CNAME chain counts too, with the list's own response.
        let chained = try resolver.dig.query("alias.cdn.test")
        XCTAssertEqual(chained.status, "NXDOMAIN", chained.description)
        XCTAssertTrue(chained.answer.isEmpty, chained.description)
        XCTAssertEqual(try resolver.dig.query("clean.test").answerData, ["203.0.113.5"])
    }

    func testRPZAddressAndClientTriggers() throws {
        let zone = """
            $TTL 300
            @ SOA localhost. root.localhost. 1 3600 600 86400 300
              NS localhost.
            ; an answer address in 198.51.100.0/24: NXDOMAIN; 2001:db8:bad::1 exactly: NODATA
            24.0.100.51.198.rpz-ip CNAME .
            128.1.zz.bad.db8.2001.rpz-ip CNAME *.
            ; the chain's last address: local data for the name that owns it
            32.36.250.4.64.rpz-ip A 192.0.2.55
            ; a client at 127.0.0.7 gets NXDOMAIN for anything
            32.7.0.0.127.rpz-client-ip CNAME .
            """
        let resolver = try start(["{ name: rpz, path: policy.rpz, format: rpz, origin: rpz.local }"],
                                 files: ["policy.rpz": zone])
        let check = try TestTools.run(try TestTools.binary(), ["check", "--config", resolver.configURL.path])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertFalse(check.output.contains("unsupported"), check.output)
        XCTAssertEqual(try resolver.dig.query("plain.test").status, "NXDOMAIN")
        let nodata = try resolver.dig.query("plain.test", "AAAA")
        XCTAssertEqual(nodata.status, "NOERROR", nodata.description)
        XCTAssertTrue(nodata.answer.isEmpty, nodata.description)
        let local = try resolver.dig.query("alias.cdn.test")
        XCTAssertEqual(local.answer.count, 2, local.description)
        XCTAssertTrue(local.answer[0].hasPrefix("alias.cdn.test.") && local.answer[0].hasSuffix("www.paypal.com."),
                      "the chain up to the address's owner: \(local)")
        XCTAssertTrue(local.answer[1].hasPrefix("www.paypal.com.") && local.answer[1].hasSuffix("192.0.2.55"), local.description)
        XCTAssertEqual(try resolver.dig.query("clean.test").answerData, ["203.0.113.5"])
        XCTAssertEqual(try resolver.dig.query("clean.test", "A", ["-b", "127.0.0.7"]).status, "NXDOMAIN")
        XCTAssertEqual(try resolver.dig.query("clean.test", "A", ["-b", "127.0.0.8"]).answerData, ["203.0.113.5"])
    }

    func testExplainResolveNamesTheChainAndExplainShowsAddressesAndClients() throws {
        let resolver = try start(["{ name: pse, path: pse.txt }", "{ name: bad, path: bad.ips, format: ips }",
                                  #"{ name: school, path: school.txt, clients: ["10.20.0.0/16"] }"#],
                                 files: ["pse.txt": "paypal.com\n", "bad.ips": "198.51.100.0/24\n",
                                         "school.txt": "clean.test\n"])
        let binary = try TestTools.binary()
        let config = resolver.configURL.path
        let resolved = try TestTools.run(binary, ["explain", "--config", config, "--resolve", "alias.cdn.test"])
        XCTAssertEqual(resolved.status, 0, resolved.output)
        for expected in ["chain name www.paypal.com.:", "entry paypal.com. in list pse (domains, block) at pse.txt:1",
                         "decision for the answer: list pse (block), cname trigger on www.paypal.com.",
                         "answer: list pse's blocked answer for the question itself"] {
            XCTAssertTrue(resolved.output.contains(expected), "\(expected) in:\n\(resolved.output)")
        }
        let address = try TestTools.run(binary, ["explain", "--config", config, "198.51.100.66"])
        XCTAssertTrue(address.output.contains("entry 198.51.100.0/24 in list bad (ips, block) at bad.ips:1"), address.output)
        XCTAssertTrue(address.output.contains("decision for an answer holding it: list bad (block), ip trigger"), address.output)
        let school = try TestTools.run(binary, ["explain", "--config", config, "--client", "10.20.1.1", "clean.test"])
        XCTAssertTrue(school.output.contains("decision: list school (block)"), school.output)
        let elsewhere = try TestTools.run(binary, ["explain", "--config", config, "--client", "192.0.2.1", "clean.test"])
        XCTAssertTrue(elsewhere.output.contains("does not apply to this client (clients: 10.20.0.0/16)"), elsewhere.output)
        XCTAssertTrue(elsewhere.output.contains("decision: none"), elsewhere.output)
    }
}

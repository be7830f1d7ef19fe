import Foundation
import XCTest

/// `check` and `explain` as the compliance team uses them.
final class ComplianceToolsTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
        let rpz = try ListFeaturesIntegrationTests.rpzFixture()
        try rpz.write(to: folder.appendingPathComponent("policy.rpz"), atomically: true, encoding: .utf8)
        let files = [
            "pse.txt": "paypal.com\nsteampowered.com\npaypal.com\nyahoo.com\n",
            "registered.txt": "yahoo.com\n",
            "c.yml": """
                upstreams: ["127.0.0.1:5300"]
                lists:
                  - { name: pse, path: pse.txt, category: "PSE not registered", reference: "Permenkominfo 5/2020" }
                  - { name: registered, path: registered.txt, action: allow }
                  - { name: rpz, path: policy.rpz, format: rpz, category: "RPZ" }
                  - { name: later, path: pse.txt, active_from: "2099-01-01T00:00:00Z" }

                """,
        ]
        for (name, contents) in files {
            try contents.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestTools.run(try TestTools.binary(), arguments)
    }

    var config: String { folder.appendingPathComponent("c.yml").path }

    func testCheckReportsKindsDuplicatesShadowedAndUnsupportedTriggers() throws {
        let result = try run(["check", "--config", config])
        XCTAssertEqual(result.status, 0, result.output)
        let expected = [
            "list pse (domains, block): 4 entries",
            "pse.txt:3: duplicate of line 1: paypal.com.",
            "pse.txt:4: yahoo.com. is shadowed by an allow entry in list registered (registered.txt)",
            "list rpz (rpz, block): 10 entries, 2 skipped lines",
            "by kind: exact drop 1, exact local-data 2, exact nodata 1, exact nxdomain 1, exact passthru 1, exact tcp-only 1, "
                + "rpz-client-ip nxdomain 1, rpz-ip nxdomain 1, wildcard nxdomain 1",
            "unsupported triggers, not applied: rpz-nsdname 1\n",
            "policy.rpz:24: not a valid zone-file record",
            "schedule: not yet active (from 2099-01-01T00:00:00Z)",
        ]
        for line in expected { XCTAssertTrue(result.output.contains(line), "missing \(line):\n\(result.output)") }
    }

    func testExplainBlockedNameShowsEntryDecisionAndAnswer() throws {
        let result = try run(["explain", "--config", config, "WWW.PayPal.com", "MX"])
        XCTAssertEqual(result.status, 0, result.output)
        let expected = [
            "www.paypal.com. MX",
            "entry paypal.com. in list pse (domains, block) at pse.txt:1, pse.txt:3: active (no schedule)",
            "entry paypal.com. in list later (domains, block) at pse.txt:1, pse.txt:3: not yet active (from 2099-01-01T00:00:00Z)",
            "decision: list pse (block): the most specific entry in force",
            "rcode: NOERROR",
            "paypal.com.\t300\tIN\tSOA",
            "EDE: 16 (Censored): PSE not registered; Permenkominfo 5/2020",
        ]
        for line in expected { XCTAssertTrue(result.output.contains(line), "missing \(line):\n\(result.output)") }
    }

    func testExplainAllowTieAndRPZAndUnlistedNames() throws {
        let yahoo = try run(["explain", "--config", config, "mail.yahoo.com"])
        XCTAssertTrue(yahoo.output.contains("decision: list registered (allow): on a tie for the same name, allow wins over block"),
                      yahoo.output)
        XCTAssertTrue(yahoo.output.contains("answer: forwarded to 127.0.0.1:5300"), yahoo.output)

        let rpz = try run(["explain", "--config", config, "x.judi.example"])
        XCTAssertTrue(rpz.output.contains("does not apply here: its trigger covers the name only"), rpz.output)
        XCTAssertTrue(rpz.output.contains("rcode: NXDOMAIN"), rpz.output)

        let unlisted = try run(["explain", "--config", config, "example.net", "AAAA"])
        XCTAssertEqual(unlisted.status, 0)
        XCTAssertTrue(unlisted.output.contains("no list holds this name or a name above it"), unlisted.output)
        XCTAssertTrue(unlisted.output.contains("decision: none; the query is forwarded"), unlisted.output)

        let bad = try run(["explain", "--config", config, "bad..name"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.output.contains("is neither an IP address nor a domain name"), bad.output)
    }
}

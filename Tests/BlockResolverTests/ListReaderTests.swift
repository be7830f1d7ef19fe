import XCTest
@testable import ResolverConfig

/// Formats map to their readers, and readers fill the shared `ListBuilder`.
final class ListReaderTests: XCTestCase {
    func settings(_ format: ListFormat, origin: String? = nil) -> ListSettings {
        ListSettings(name: "l", path: "/l", pathAsWritten: "l", format: format, action: .block, category: "l",
                     configLine: 1, origin: origin)
    }

    func testEachFormatMapsToItsReader() {
        let expected: [ListFormat: any ListReader.Type] = [
            .domains: DomainsReader.self, .hosts: HostsReader.self, .rpz: RPZReader.self, .ips: IPsReader.self,
        ]
        for format in ListFormat.allCases {
            let readerType = format.readerType
            XCTAssertTrue(readerType == expected[format], "\(format)")
            XCTAssertTrue(type(of: settings(format).reader) == readerType, "\(format)")
            // Only RPZ entries have rules of their own, which `check` reports by kind.
            XCTAssertEqual(readerType.hasRulePerEntry, format == .rpz, "\(format)")
        }
        XCTAssertEqual((settings(.rpz, origin: "rpz.local").reader as? RPZReader)?.origin, "rpz.local")
    }

    func testReadersFillTheBuilder() {
        var builder = ListBuilder(fileName: "mixed", recordLines: true, problemsKept: 1)
        HostsReader().readLine([Array("0.0.0.0".utf8)[...], Array("a.example".utf8)[...],
                                Array("localhost".utf8)[...], Array("bad..name".utf8)[...]],
                               line: 3, into: &builder)
        DomainsReader().readLine([Array("B.example.".utf8)[...]], line: 4, into: &builder)
        DomainsReader().readLine([Array("two".utf8)[...], Array("names".utf8)[...]], line: 5, into: &builder)
        let zone = "@ SOA ns hostmaster 1 3600 600 86400 300\nc CNAME .\n*.d CNAME rpz-drop.\n"
        RPZReader(origin: "rpz.test").read(Array(zone.utf8), into: &builder)
        let list = builder.finish()

        var names: [String] = []
        list.forEachName { index, range in
            let rule = list.rules[list.ruleIndex(ofEntry: index)]
            names.append(DomainName.presentation(ofWire: list.arena[range]) + " " + rule.actionName)
        }
        // The plain entries read before the first RPZ rule got the list's rule when rules began to differ.
        XCTAssertEqual(names, ["a.example. list action", "b.example. list action", "c. nxdomain", "d. drop"])
        XCTAssertEqual(list.entryRules.count, 4)
        XCTAssertEqual(list.lines, [3, 4, 2, 3])
        XCTAssertEqual(list.ignoredCount, 1)
        XCTAssertEqual(list.problemCount, 2)
        XCTAssertEqual(list.problems.map(\.description),
                       ["mixed:3: empty label (two dots in a row, or a leading dot): \"bad..name\""])
    }

    func testPlainListsKeepNoRuleTable() {
        let list = DomainsReader().parse(Array("a.example\nb.example\n".utf8), fileName: "d")
        XCTAssertEqual(list.rules, [.wholeSubtree])
        XCTAssertEqual(list.entryRules, [])
        XCTAssertEqual(list.lines, [])
    }

    func testIPsListLinesAndProblems() {
        let text = """
            # hosting blocks
            192.0.2.1
            198.51.100.0/24   # a whole block
            2001:db8::/32
            10.1.2.3/8

            ::ffff:203.0.113.7
            192.0.2.0/33
            2001:db8::/129
            192.0.2.0/0
            192.0.2.0/x
            192.0.2.0/
            300.1.2.3
            example.com
            192.0.2.1 192.0.2.2
            fe80::1%eth0
            2001:db8::/+8
            """
        let list = IPsReader().parse(Array(text.utf8), fileName: "ips")
        XCTAssertEqual(list.addresses.map { "\($0.cidr) \($0.trigger) \($0.rule) line \($0.line)" }, [
            "192.0.2.1/32 answer 0 line 2",
            "198.51.100.0/24 answer 0 line 3",
            "2001:db8::/32 answer 0 line 4",
            "10.0.0.0/8 answer 0 line 5",  // host bits beyond the prefix are dropped
            "::ffff:203.0.113.7/128 answer 0 line 7",
        ])
        XCTAssertEqual(list.problems.map(\.description), [
            "ips:8: prefix length 33 is out of range 1...32 for an IPv4 address",
            "ips:9: prefix length 129 is out of range 1...128 for an IPv6 address",
            "ips:10: a /0 prefix would match every address; skipped",
            "ips:11: prefix length \"x\" is not a number",
            "ips:12: prefix length \"\" is not a number",
            "ips:13: \"300.1.2.3\" is not an IP address or prefix",
            "ips:14: \"example.com\" is not an IP address or prefix",
            "ips:15: more than one field on the line (one address or prefix a line)",
            "ips:16: \"fe80::1%eth0\" is not an IP address or prefix",
            "ips:17: prefix length \"+8\" is not a number",
        ])
        XCTAssertEqual(list.rules, [.wholeSubtree])
        XCTAssertEqual(list.count, 0)
        XCTAssertEqual(list.addressCount, 5)
        XCTAssertEqual(list.arena.capacity, 0, "an ips list reserves no name arena")
        XCTAssertEqual(list.countsByKind.map { "\($0.kind) \($0.count)" }, ["address list action 5"])
    }

    func testAddressRulesLeaveRuleZeroToTheNames() throws {
        var builder = ListBuilder(fileName: "mixed", recordLines: true)
        builder.addAddress(try XCTUnwrap(CIDR.parse("192.0.2.0/24")), trigger: .client,
                           rule: EntryRule(scope: .nameAndBelow, action: .drop), line: 1)
        builder.addName(Array("a.example".utf8)[...], line: 2)
        let list = builder.finish()
        // The name has no rule of its own (rule 0), which must still be the list's own rule.
        XCTAssertEqual(list.entryRules, [])
        XCTAssertEqual(list.rules[list.ruleIndex(ofEntry: 0)], .wholeSubtree)
        XCTAssertEqual(list.rules[Int(list.addresses[0].rule)].action, .drop)
        XCTAssertEqual(list.countsByKind.map { "\($0.kind) \($0.count)" }, ["name and below 1", "rpz-client-ip drop 1"])
    }

    func testSetRuleGivesPlainEntriesARuleTableFirst() {
        var builder = ListBuilder(fileName: "d")
        builder.addName(Array("a.example".utf8)[...], line: 1)
        builder.addName(Array("b.example".utf8)[...], line: 2)
        builder.setRule(ofEntry: 0, .wholeSubtree)
        builder.setRule(ofEntry: 1, EntryRule(scope: .nameOnly, action: .nxdomain))
        let list = builder.finish()
        XCTAssertEqual(list.rules[list.ruleIndex(ofEntry: 0)], .wholeSubtree)
        XCTAssertEqual(list.rules[list.ruleIndex(ofEntry: 1)], EntryRule(scope: .nameOnly, action: .nxdomain))
        XCTAssertEqual(list.entryRules.count, 2)
    }
}

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
            .domains: DomainsReader.self, .hosts: HostsReader.self, .rpz: RPZReader.self,
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
}

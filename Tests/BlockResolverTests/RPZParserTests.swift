import XCTest
@testable import ResolverConfig

final class RPZParserTests: XCTestCase {
    static func fixture() throws -> [UInt8] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/policy", withExtension: "rpz"))
        return Array(try Data(contentsOf: url))
    }

    func entries(_ list: ParsedList) -> [String] {
        var result: [String] = []
        list.forEachName { index, range in
            let rule = list.rules[list.ruleIndex(ofEntry: index)]
            let prefix = rule.scope == .belowOnly ? "*." : ""
            result.append(prefix + DomainName.presentation(ofWire: list.arena[range]) + " " + rule.actionName)
        }
        return result
    }

    func testEveryTriggerAndAction() throws {
        let list = RPZReader().parse(try Self.fixture(), fileName: "policy.rpz", recordLines: true)
        XCTAssertEqual(entries(list), [
            "judi.example. nxdomain",
            "*.judi.example. nxdomain",
            "empty.example. nodata",
            "ok.judi.example. passthru",
            "drop.example. drop",
            "tcp.example. tcp-only",
            "landing.example. local-data",
            "local.example. local-data",
        ])
        XCTAssertEqual(list.lines, [8, 9, 10, 11, 12, 13, 14, 15])
        XCTAssertEqual(list.unsupportedTriggers, ["rpz-ip": 1, "rpz-nsdname": 1, "rpz-client-ip": 1])
        XCTAssertEqual(list.problems.map(\.line), [18, 24])
        XCTAssertTrue(list.problems[0].reason.contains("mixed.example. is outside the zone"), list.problems[0].reason)
    }

    func testLocalDataKeepsEveryRecordOfTheOwner() throws {
        let list = RPZReader().parse(try Self.fixture(), fileName: "policy.rpz")
        let local = list.rules.compactMap { rule -> [LocalRecord]? in
            if case .localData(let records) = rule.action { return records }
            return nil
        }
        XCTAssertEqual(local.map { $0.map(\.type) }, [[5], [1, 28, 16]])
        XCTAssertEqual(local[0][0].text, "300 IN CNAME trustpositif.block-resolver.test.")
        // Wire form with a root owner: 0, type, class, TTL, rdlength, rdata.
        XCTAssertEqual(local[1][0].wireWithRootOwner, [0, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 80])
    }

    func testRelativeZoneNeedsOriginFromConfig() {
        let text = "@ 300 SOA ns hostmaster 1 3600 600 86400 300\nblocked CNAME .\n"
        let withOrigin = RPZReader(origin: "rpz.local").parse(Array(text.utf8), fileName: "z")
        XCTAssertEqual(entries(withOrigin), ["blocked. nxdomain"])
        XCTAssertEqual(withOrigin.problemCount, 0)
    }

    func testEmptyAndGarbageZonesDoNotCrash() {
        XCTAssertEqual(RPZReader().parse([], fileName: "z").count, 0)
        let garbage = RPZReader().parse(Array("((((\n\u{0}\u{1}\n$INCLUDE other\n".utf8), fileName: "z")
        XCTAssertEqual(garbage.count, 0)
        XCTAssertGreaterThan(garbage.problemCount, 0)
    }

    func testPrecedenceAcrossFormatsAndScopes() throws {
        let rpz = RPZReader().parse(try Self.fixture(), fileName: "policy.rpz")
        let domains = DomainsReader().parse(Array("example\n".utf8), fileName: "d")
        func loaded(_ name: String, _ action: ListAction, _ parsed: ParsedList, format: ListFormat) -> LoadedList {
            LoadedList(settings: ListSettings(name: name, path: "/" + name, pathAsWritten: name, format: format,
                                              action: action, category: name, configLine: 1),
                       parsed: parsed, identity: .init(size: 0, modified: .init(), contentHash: 0), loadSeconds: 0,
                       reused: false)
        }
        let policy = try CompiledPolicy(lists: [loaded("rpz", .block, rpz, format: .rpz),
                                                loaded("allow-all", .allow, domains, format: .domains)])
        func decide(_ name: String) -> String? {
            let wire = try! DomainName.wireForm(name).get()
            return wire.withUnsafeBufferPointer { policy.decide($0, active: [true, true]) }.map {
                "\(policy.lists[$0.listIndex].settings.name) \(policy.lists[$0.listIndex].parsed.rules[$0.ruleIndex].actionName)"
            }
        }
        // The RPZ exact trigger is more specific than the allow entry for "example".
        XCTAssertEqual(decide("judi.example"), "rpz nxdomain")
        XCTAssertEqual(decide("www.judi.example"), "rpz nxdomain")
        XCTAssertEqual(decide("ok.judi.example"), "rpz passthru")
        // An exact trigger does not cover the names below it: the allow entry decides there.
        XCTAssertEqual(decide("x.empty.example"), "allow-all list action")
        XCTAssertEqual(decide("empty.example"), "rpz nodata")
        XCTAssertEqual(decide("other.example"), "allow-all list action")
    }
}

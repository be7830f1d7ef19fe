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

    func addresses(_ list: ParsedList) -> [String] {
        list.addresses.map { entry in
            "\(entry.trigger) \(entry.cidr) \(list.rules[Int(entry.rule)].actionName) line \(entry.line)"
        }
    }

    /// `zone` below a SOA of `rpz.test.`, read with line numbers.
    func zone(_ records: String) -> ParsedList {
        RPZReader().parse(Array(("$ORIGIN rpz.test.\n@ SOA ns hostmaster 1 3600 600 86400 300\n" + records).utf8),
                          fileName: "z", recordLines: true)
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
        XCTAssertEqual(list.unsupportedTriggers, ["rpz-nsdname": 1])
        XCTAssertEqual(addresses(list), ["answer 192.0.2.1/32 nxdomain line 21", "client 198.0.2.0/24 nxdomain line 23"])
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

    func testAddressTriggersIPv4AndIPv6() throws {
        let list = zone("""
            24.0.2.0.192.rpz-ip          CNAME .
            32.1.0.53.10.rpz-client-ip   CNAME rpz-drop.
            128.1.zz.3.2.2001.rpz-ip     CNAME rpz-passthru.
            128.57.zz.1.0.db8.2001.rpz-ip CNAME *.
            48.zz.1.2001.rpz-ip          CNAME rpz-tcp-only.
            32.zz.db8.2001.rpz-client-ip CNAME .
            128.8.7.6.5.4.3.2.1.rpz-ip   CNAME .
            64.zz.2.1.rpz-ip             CNAME .
            32.80.2.0.192.rpz-ip         A 192.0.2.80
            32.80.2.0.192.rpz-ip         TXT "hosting block"
            exact.example                CNAME .

            """)
        XCTAssertEqual(list.problems.map(\.description), [])
        XCTAssertEqual(addresses(list), [
            "answer 192.0.2.0/24 nxdomain line 3",
            "client 10.53.0.1/32 drop line 4",
            "answer 2001:2:3::1/128 passthru line 5",
            "answer 2001:db8:0:1::57/128 nodata line 6",
            "answer 2001:1::/48 tcp-only line 7",
            "client 2001:db8::/32 nxdomain line 8",
            "answer 1:2:3:4:5:6:7:8/128 nxdomain line 9",
            // Four labels with a zz are IPv6 (as BIND reads them): 1:2::/64.
            "answer 1:2::/64 nxdomain line 10",
            "answer 192.0.2.80/32 local-data line 11",
        ])
        XCTAssertEqual(entries(list), ["exact.example. nxdomain"])
        XCTAssertEqual(list.count, 1)
        XCTAssertEqual(list.addressCount, 9)
        XCTAssertEqual(list.unsupportedTriggers, [:])
        guard case .localData(let records) = list.rules[Int(list.addresses[8].rule)].action else {
            return XCTFail("no local data")
        }
        XCTAssertEqual(records.map(\.type), [1, 16])
        XCTAssertEqual(list.countsByKind.map { "\($0.kind) \($0.count)" }, [
            "exact nxdomain 1", "rpz-client-ip drop 1", "rpz-client-ip nxdomain 1", "rpz-ip local-data 1",
            "rpz-ip nodata 1", "rpz-ip nxdomain 3", "rpz-ip passthru 1", "rpz-ip tcp-only 1",
        ])
    }

    func testMalformedAddressTriggersAreReportedWithTheirLines() {
        let list = zone("""
            33.1.2.0.192.rpz-ip          CNAME .
            0.0.2.0.192.rpz-ip           CNAME .
            32.256.2.0.192.rpz-ip        CNAME .
            24.2.0.192.rpz-ip            CNAME .
            24.0.2.0.192.10.rpz-ip       CNAME .
            64.zz.1.zz.2001.rpz-ip       CNAME .
            24.1.2.0.192.rpz-ip          CNAME .
            129.1.zz.2001.rpz-ip         CNAME .
            128.12345.zz.2001.rpz-ip     CNAME .
            128.1.zz.8.7.6.5.4.3.2.1.rpz-ip CNAME .
            x.1.2.0.192.rpz-client-ip    CNAME .
            rpz-ip                       CNAME .
            16.1.zz.2001.rpz-ip          CNAME .
            ns.evil.example.rpz-nsdname  CNAME .
            32.1.2.0.192.rpz-nsip        CNAME .
            32.1.2.0.192.rpz-ip          CNAME .

            """)
        XCTAssertEqual(list.problems.map(\.description), [
            "z:3: rpz-ip trigger 33.1.2.0.192.rpz-ip: prefix length 33 is out of range 1...32 for an IPv4 address",
            "z:4: rpz-ip trigger 0.0.2.0.192.rpz-ip: prefix length 0 is out of range 1...32 for an IPv4 address",
            "z:5: rpz-ip trigger 32.256.2.0.192.rpz-ip: \"256\" is not an IPv4 octet (0-255)",
            "z:6: rpz-ip trigger 24.2.0.192.rpz-ip: 3 address labels: 4 octets for IPv4, or 8 groups for IPv6 (fewer with zz)",
            "z:7: rpz-ip trigger 24.0.2.0.192.10.rpz-ip: 5 address labels: 4 octets for IPv4, or 8 groups for IPv6 (fewer with zz)",
            "z:8: rpz-ip trigger 64.zz.1.zz.2001.rpz-ip: more than one zz (only one run of zero groups can be left out)",
            "z:9: rpz-ip trigger 24.1.2.0.192.rpz-ip: address 192.0.2.1 has bits set beyond its /24 prefix "
                + "(meant 192.0.2.0/24? BIND refuses such a trigger too)",
            "z:10: rpz-ip trigger 129.1.zz.2001.rpz-ip: prefix length 129 is out of range 1...128 for an IPv6 address",
            "z:11: rpz-ip trigger 128.12345.zz.2001.rpz-ip: \"12345\" is not an IPv6 group (1 to 4 hex digits)",
            "z:12: rpz-ip trigger 128.1.zz.8.7.6.5.4.3.2.1.rpz-ip: 10 address labels: 4 octets for IPv4, or 8 groups for IPv6 (fewer with zz)",
            "z:13: rpz-client-ip trigger x.1.2.0.192.rpz-client-ip: prefix length \"x\" is not a number",
            "z:14: rpz-ip trigger rpz-ip: not <prefix length>.<address in reverse order>",
            "z:15: rpz-ip trigger 16.1.zz.2001.rpz-ip: address 2001::1 has bits set beyond its /16 prefix "
                + "(meant 2001::/16? BIND refuses such a trigger too)",
        ])
        XCTAssertEqual(addresses(list), ["answer 192.0.2.1/32 nxdomain line 18"])
        // A forwarder never sees the delegations these judge.
        XCTAssertEqual(list.unsupportedTriggers, ["rpz-nsdname": 1, "rpz-nsip": 1])
    }

    func testRecordsOfOneOwnerSplitByOthersAreJoined() {
        let list = zone("""
            e                     A     192.0.2.2
            f                     A     192.0.2.3
            e                     MX    10 mx.example.
            32.9.2.0.192.rpz-ip   A     192.0.2.9
            g                     CNAME .
            32.9.2.0.192.rpz-ip   AAAA  2001:db8::9
            e                     CNAME .
            g                     CNAME rpz-drop.

            """)
        func local(_ rule: Int) -> [String] {
            guard case .localData(let records) = list.rules[rule].action else { return [] }
            return records.map(\.text)
        }
        XCTAssertEqual(entries(list), ["e. local-data", "f. local-data", "g. nxdomain", "g. drop"])
        XCTAssertEqual(list.lines, [3, 4, 7, 10])
        XCTAssertEqual(local(list.ruleIndex(ofEntry: 0)), ["3600 IN A 192.0.2.2", "3600 IN MX 10 mx.example."])
        XCTAssertEqual(local(list.ruleIndex(ofEntry: 1)), ["3600 IN A 192.0.2.3"])
        XCTAssertEqual(addresses(list), ["answer 192.0.2.9/32 local-data line 6"])
        XCTAssertEqual(local(Int(list.addresses[0].rule)), ["3600 IN A 192.0.2.9", "3600 IN AAAA 2001:db8::9"])
        // An action after local data contradicts it: reported, and the local data stands.
        XCTAssertEqual(list.problems.map(\.description),
                       ["z:9: e.rpz.test. already has local data from line 3; this action is skipped"])
    }

    /// ldns reads a record with an unclosed `(` to the end of the file: the problem names the
    /// line it started on, and the records before it are kept.
    func testUnclosedParenthesisNamesTheLineItOpened() {
        let list = zone("""
            a CNAME .
            ; a comment with a ( is not one
            b TXT "a ( in quotes" ; nor this (
            c TXT ( "one"
                "two"

            d CNAME .
            e CNAME .
            """)
        XCTAssertEqual(entries(list), ["a. nxdomain", "b. local-data"])
        XCTAssertEqual(list.problems.map(\.description),
                       ["z:6: a '(' that is never closed: the records from here to the end of the file are not read"])
        // A record that ldns refuses at the end of the file instead (a CNAME of many words).
        let refused = zone("a CNAME .\nb CNAME (\n  x.example.\nc CNAME .\n")
        XCTAssertEqual(entries(refused), ["a. nxdomain"])
        XCTAssertEqual(refused.problems.map(\.description),
                       ["z:4: a '(' that is never closed: the records from here to the end of the file are not read"])
    }

    /// A closed `(` spans lines as usual.
    func testClosedParenthesisIsNotReported() {
        let list = zone("c TXT ( \"one\"\n  \"two\" )\nd CNAME .\n")
        XCTAssertEqual(list.problemCount, 0, "\(list.problems)")
        XCTAssertEqual(entries(list), ["c. local-data", "d. nxdomain"])
    }
}

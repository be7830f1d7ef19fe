import Foundation
import XCTest
@testable import ResolverConfig

/// The address index: longest prefix first, per family, IPv4-mapped addresses, lists in config order.
final class AddressTableTests: XCTestCase {
    /// An `ips` list of these lines.
    func ips(_ lines: String) -> ParsedList {
        IPsReader().parse(Array(lines.utf8), fileName: "ips")
    }

    /// The bytes of an IPv4 or IPv6 address.
    func address(_ text: String) -> [UInt8] {
        CIDR.parse(text)!.network
    }

    /// Every (list, rule, prefix length) visited for `text`, in visiting order.
    func matches(_ table: AddressTable, _ text: String) -> [String] {
        var result: [String] = []
        address(text).withUnsafeBytes { bytes in
            table.lookup(bytes) { group, length in
                for member in table.groups[group] { result.append("\(member.list).\(member.rule)/\(length)") }
                return false
            }
        }
        return result
    }

    func testIPv4LongestPrefixFirst() {
        let table = AddressTable(lists: [(ips("10.0.0.0/8\n10.1.2.0/24\n10.1.2.3\n192.0.2.0/24\n"), 0)],
                                 trigger: .answer)
        XCTAssertEqual(table.count, 4)
        XCTAssertFalse(table.isEmpty)
        XCTAssertEqual(matches(table, "10.1.2.3"), ["0.0/32", "0.0/24", "0.0/8"])
        XCTAssertEqual(matches(table, "10.1.2.4"), ["0.0/24", "0.0/8"])
        XCTAssertEqual(matches(table, "10.200.0.1"), ["0.0/8"])
        XCTAssertEqual(matches(table, "11.0.0.1"), [])
        XCTAssertEqual(matches(table, "192.0.2.255"), ["0.0/24"])
        // An IPv6 address never matches an IPv4 prefix unless it carries one.
        XCTAssertEqual(matches(table, "::a01:203"), [])
    }

    func testIPv6() {
        let table = AddressTable(lists: [(ips("2001:db8::/32\n2001:db8:1::/48\n2001:db8:1::53\n2001:dba::/31\n"), 0)],
                                 trigger: .answer)
        XCTAssertEqual(matches(table, "2001:db8:1::53"), ["0.0/128", "0.0/48", "0.0/32"])
        XCTAssertEqual(matches(table, "2001:db8:2::1"), ["0.0/32"])
        XCTAssertEqual(matches(table, "2001:db8:ffff::1"), ["0.0/32"])
        // 2001:dba::/31 is 2001:dba:: to 2001:dbb:ffff:…: the mask cuts inside a group.
        XCTAssertEqual(matches(table, "2001:dbb:ffff::1"), ["0.0/31"])
        XCTAssertEqual(matches(table, "2001:db9::1"), [])
        XCTAssertEqual(matches(table, "2001:dbc::1"), [])
        XCTAssertEqual(matches(table, "192.0.2.1"), [])
    }

    func testPrefixesCutInsideTheLowHalfOfAnIPv6Address() {
        let table = AddressTable(lists: [(ips("2001:db8::1:0/112\n2001:db8::80/121\n"), 0)], trigger: .answer)
        XCTAssertEqual(matches(table, "2001:db8::1:ffff"), ["0.0/112"])
        XCTAssertEqual(matches(table, "2001:db8::ff"), ["0.0/121"])
        XCTAssertEqual(matches(table, "2001:db8::7f"), [])
    }

    func testIPv4MappedAddressesMatchIPv4EntriesAndIPv6OnesInLengthOrder() {
        let table = AddressTable(lists: [(ips("192.0.2.0/24\n192.0.0.0/8\n::ffff:0:0/96\n::ffff:192.0.2.0/120\n"), 0)],
                                 trigger: .answer)
        // ::ffff:192.0.2.0/120 is the /24 written in IPv6: the same length (24 + 96), visited after it.
        XCTAssertEqual(matches(table, "::ffff:192.0.2.1"), ["0.0/24", "0.0/120", "0.0/8", "0.0/96"])
        XCTAssertEqual(matches(table, "::ffff:10.0.0.1"), ["0.0/96"])
        XCTAssertEqual(matches(table, "192.0.2.1"), ["0.0/24", "0.0/8"])
        // Not mapped: the same low 32 bits with another prefix.
        XCTAssertEqual(matches(table, "::192.0.2.1"), [])
    }

    func testOverlappingListsShareAGroupInConfigOrder() throws {
        var builder = ListBuilder(fileName: "rpz")
        let prefix = try XCTUnwrap(CIDR.parse("192.0.2.0/24"))
        // Rules added in the other order than their indexes: the group still lists rule 1 before 2.
        builder.addAddress(try XCTUnwrap(CIDR.parse("198.51.100.0/24")), trigger: .answer,
                           rule: EntryRule(scope: .nameAndBelow, action: .drop), line: 1)
        builder.addAddress(prefix, trigger: .answer, rule: EntryRule(scope: .nameAndBelow, action: .passthru), line: 2)
        builder.addAddress(prefix, trigger: .answer, rule: EntryRule(scope: .nameAndBelow, action: .drop), line: 3)
        let rpz = builder.finish()
        XCTAssertEqual(rpz.rules.map(\.actionName), ["list action", "drop", "passthru"])
        let plain = ips("192.0.2.0/24\n192.0.2.0/24\n")
        let table = AddressTable(lists: [(plain, 0), (rpz, 1), (ips("192.0.2.0/24\n"), 2)], trigger: .answer)
        XCTAssertEqual(matches(table, "192.0.2.9"), ["0.0/24", "1.1/24", "1.2/24", "2.0/24"])
        XCTAssertEqual(table.count, 6)  // the duplicate in list 0 counts as an entry, not as a member
        let group = try XCTUnwrap(table.exactGroup(prefix))
        XCTAssertEqual(table.groups[group].map(\.list), [0, 1, 1, 2])
        XCTAssertNil(table.exactGroup(try XCTUnwrap(CIDR.parse("192.0.2.0/25"))))
        XCTAssertNotNil(table.exactGroup(try XCTUnwrap(CIDR.parse("198.51.100.0/24"))))
        XCTAssertNil(table.exactGroup(try XCTUnwrap(CIDR.parse("2001:db8::/32"))))
    }

    func testVisitStopsWhenItReturnsTrue() {
        let table = AddressTable(lists: [(ips("10.0.0.0/8\n10.1.0.0/16\n"), 0)], trigger: .answer)
        var lengths: [Int] = []
        address("10.1.0.1").withUnsafeBytes { bytes in
            table.lookup(bytes) { _, length in
                lengths.append(length)
                return true
            }
        }
        XCTAssertEqual(lengths, [16])
    }

    func testTriggersAreIndexedApartAndInThePolicy() throws {
        let zone = """
            $ORIGIN rpz.test.
            @ SOA ns hostmaster 1 3600 600 86400 300
            32.1.2.0.192.rpz-ip CNAME .
            24.0.2.0.198.rpz-client-ip CNAME rpz-drop.
            blocked CNAME .

            """
        let rpz = RPZReader().parse(Array(zone.utf8), fileName: "z")
        func loaded(_ parsed: ParsedList, _ format: ListFormat) -> LoadedList {
            LoadedList(settings: ListSettings(name: format.rawValue, path: "/l", pathAsWritten: "l", format: format,
                                              action: .block, category: "c", configLine: 1),
                       parsed: parsed, identity: .init(size: 0, modified: .init(), contentHash: 0), loadSeconds: 0,
                       reused: false)
        }
        let policy = try CompiledPolicy(lists: [loaded(rpz, .rpz), loaded(ips("203.0.113.0/24\n"), .ips)])
        XCTAssertEqual(policy.entryCount, 4)
        XCTAssertTrue(policy.hasAnswerAddressTriggers)
        XCTAssertTrue(policy.hasClientTriggers)
        XCTAssertEqual(matches(policy.answerAddresses, "192.0.2.1"), ["0.1/32"])
        XCTAssertEqual(matches(policy.answerAddresses, "203.0.113.1"), ["1.0/24"])
        XCTAssertEqual(matches(policy.answerAddresses, "198.0.2.1"), [])
        XCTAssertEqual(matches(policy.clientAddresses, "198.0.2.1"), ["0.2/24"])
        XCTAssertEqual(matches(policy.clientAddresses, "192.0.2.1"), [])

        let names = try CompiledPolicy(lists: [loaded(DomainsReader().parse(Array("a.example\n".utf8), fileName: "d"), .domains)])
        XCTAssertFalse(names.hasAnswerAddressTriggers)
        XCTAssertFalse(names.hasClientTriggers)
        XCTAssertTrue(names.answerAddresses.isEmpty)
    }

    /// 100,000 prefixes index into one group per list and are all found. How fast they load is
    /// measured by `BENCH_IPS=100000 scripts/bench-lists` (BENCHMARKS.md), not asserted here.
    func testHundredThousandPrefixesLoadAndAreFound() {
        var text = ""
        for index in 0..<100_000 {
            if index % 2 == 0 {
                text += "10.\(index >> 16 & 0xFF).\(index >> 8 & 0xFF).\(index & 0xFF)\n"
            } else {
                text += "2001:db8:\(String(index >> 16, radix: 16)):\(String(index & 0xFFFF, radix: 16))::/64\n"
            }
        }
        let parsed = ips(text)
        let table = AddressTable(lists: [(parsed, 0)], trigger: .answer)
        XCTAssertEqual(parsed.addressCount, 100_000)
        XCTAssertEqual(parsed.problemCount, 0)
        XCTAssertEqual(table.count, 100_000)
        XCTAssertEqual(table.groups.count, 1)
        XCTAssertEqual(matches(table, "10.1.134.158"), ["0.0/32"])  // 99,998 is 0x1869E
        XCTAssertEqual(matches(table, "10.1.134.159"), [])
        XCTAssertEqual(matches(table, "2001:db8:1:869f:ab::1"), ["0.0/64"])
        XCTAssertEqual(matches(table, "2001:db8:1:86a0::1"), [])
    }
}

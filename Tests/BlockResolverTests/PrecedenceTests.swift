import XCTest
@testable import ResolverConfig

/// `precedence: specific | listed`, `clients:` and address decisions, on compiled policies.
final class PrecedenceTests: XCTestCase {
    /// Builds a policy from (name, action, format, text, clients) lists, in config order.
    func policy(_ lists: [(String, ListAction, ListFormat, String, [CIDR]?)], _ precedence: Precedence) throws
        -> CompiledPolicy {
        try CompiledPolicy(lists: lists.map { name, action, format, text, clients in
            let settings = ListSettings(name: name, path: "/\(name)", pathAsWritten: name, format: format,
                                        action: action, category: name, configLine: 1, clients: clients)
            let parsed = settings.reader.parse(Array(text.utf8), fileName: name)
            return LoadedList(settings: settings, parsed: parsed,
                              identity: ListFile.Identity(size: 0, modified: .init(), contentHash: 0),
                              loadSeconds: 0, reused: false)
        }, precedence: precedence)
    }

    func decide(_ policy: CompiledPolicy, _ query: String, client: String? = nil, before limit: Int = .max) -> String? {
        let wire = try! DomainName.wireForm(query).get()
        let active = [Bool](repeating: true, count: policy.lists.count)
        let bytes = client.map { CIDR.parse($0)!.network }
        return wire.withUnsafeBufferPointer { name in
            bytes.withUnsafeBytesOrNil { policy.decide(name, active: active, client: $0, before: limit) }
        }.map { policy.lists[$0.listIndex].settings.name }
    }

    func decideAddress(_ policy: CompiledPolicy, _ address: String) -> (list: String, length: Int)? {
        let bytes = CIDR.parse(address)!.network
        let active = [Bool](repeating: true, count: policy.lists.count)
        return bytes.withUnsafeBytes { policy.decideAddress($0, active: active, client: nil) }
            .map { (policy.lists[$0.listIndex].settings.name, $0.suffixOffset) }
    }

    func testSpecificLetsTheMostSpecificEntryDecideAndListedTheFirstList() throws {
        let lists: [(String, ListAction, ListFormat, String, [CIDR]?)] = [
            ("block", .block, .domains, "paypal.com\n", nil), ("allow", .allow, .domains, "www.paypal.com\n", nil),
        ]
        let specific = try policy(lists, .specific)
        XCTAssertEqual(decide(specific, "www.paypal.com"), "allow")
        XCTAssertEqual(decide(specific, "x.paypal.com"), "block")
        let listed = try policy(lists, .listed)
        XCTAssertEqual(decide(listed, "www.paypal.com"), "block")
        XCTAssertEqual(decide(listed, "www.paypal.com", before: 0), nil, "no list before the first")
        let reversed = try policy(lists.reversed(), .listed)
        XCTAssertEqual(decide(reversed, "www.paypal.com"), "allow")
        XCTAssertEqual(decide(reversed, "x.paypal.com"), "block")
    }

    func testListedPrefersTheExactNameAndLongerWildcardWithinOneZone() throws {
        let zone = """
            $ORIGIN rpz.test.
            @ SOA localhost. root.localhost. 1 3600 600 86400 300
            *.example CNAME .
            *.w.example CNAME *.
            v.w.example CNAME rpz-passthru.
            """
        let listed = try policy([("rpz", .block, .rpz, zone, nil), ("later", .block, .domains, "example\n", nil)], .listed)
        let active = [true, true]
        func rule(_ name: String) -> String? {
            let wire = try! DomainName.wireForm(name).get()
            return wire.withUnsafeBufferPointer { listed.decide($0, active: active) }
                .map { listed.lists[$0.listIndex].parsed.rules[$0.ruleIndex].actionName }
        }
        XCTAssertEqual(rule("v.w.example"), "passthru")
        XCTAssertEqual(rule("u.w.example"), "nodata")
        XCTAssertEqual(rule("u.example"), "nxdomain")
        XCTAssertEqual(decide(listed, "example"), "later", "no trigger of the zone covers the apex name itself")
    }

    func testClientsScopeAList() throws {
        let p = try policy([("school", .block, .domains, "paypal.com\n", [CIDR.parse("10.20.0.0/16")!])], .specific)
        XCTAssertEqual(decide(p, "paypal.com", client: "10.20.1.1"), "school")
        XCTAssertNil(decide(p, "paypal.com", client: "10.21.1.1"))
        XCTAssertNil(decide(p, "paypal.com"), "an unknown client is outside every scope")
    }

    func testAddressesLongestPrefixThenAllowThenListOrder() throws {
        let lists: [(String, ListAction, ListFormat, String, [CIDR]?)] = [
            ("wide", .block, .ips, "198.51.100.0/24\n2001:db8::/32\n", nil),
            ("narrow", .block, .ips, "198.51.100.66\n", nil),
            ("ok", .allow, .ips, "198.51.100.0/24\n", nil),
        ]
        let specific = try policy(lists, .specific)
        XCTAssertEqual(decideAddress(specific, "198.51.100.66")?.list, "narrow")
        XCTAssertEqual(decideAddress(specific, "198.51.100.66")?.length, 32)
        XCTAssertEqual(decideAddress(specific, "198.51.100.7")?.list, "ok", "allow wins a tie on one prefix")
        XCTAssertEqual(decideAddress(specific, "2001:db8::1")?.list, "wide")
        XCTAssertEqual(decideAddress(specific, "::ffff:198.51.100.66")?.list, "narrow", "mapped IPv4")
        XCTAssertNil(decideAddress(specific, "203.0.113.1"))
        let listed = try policy(lists, .listed)
        XCTAssertEqual(decideAddress(listed, "198.51.100.66")?.list, "wide", "the first list with a match")
    }
}

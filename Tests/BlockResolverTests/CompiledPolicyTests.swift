import XCTest
@testable import ResolverConfig

final class CompiledPolicyTests: XCTestCase {
    /// Builds a policy from (name, action, domains text) lists, in config order.
    func policy(_ lists: [(String, ListAction, String)]) throws -> CompiledPolicy {
        try CompiledPolicy(lists: lists.map { name, action, text in
            let settings = ListSettings(name: name, path: "/\(name)", pathAsWritten: name, format: .domains,
                                        action: action, category: name, configLine: 1)
            let parsed = DomainsReader().parse(Array(text.utf8), fileName: name)
            return LoadedList(settings: settings, parsed: parsed,
                              identity: ListFile.Identity(size: 0, modified: .init(), contentHash: 0),
                              loadSeconds: 0, reused: false)
        })
    }

    /// The deciding list's name for `query`, or nil.
    func decide(_ policy: CompiledPolicy, _ query: String) -> String? {
        let wire = try! DomainName.wireForm(query).get()
        let active = [Bool](repeating: true, count: policy.lists.count)
        return wire.withUnsafeBufferPointer { policy.decide($0, active: active) }
            .map { policy.lists[$0.listIndex].settings.name }
    }

    func testEntryCoversItselfAndEverythingBelowButNotSiblings() throws {
        let p = try policy([("block", .block, "paypal.com\n")])
        XCTAssertEqual(decide(p, "paypal.com"), "block")
        XCTAssertEqual(decide(p, "www.paypal.com"), "block")
        XCTAssertEqual(decide(p, "a.b.c.paypal.com"), "block")
        XCTAssertNil(decide(p, "notpaypal.com"))
        XCTAssertNil(decide(p, "paypal.com.au"))
        XCTAssertNil(decide(p, "com"))
    }

    /// Lookups skip suffixes whose label count no entry has; every count that is present is still
    /// found, from one label (a whole top-level domain) to very long names.
    func testEveryLabelCountPresentIsFound() throws {
        let long = Array(repeating: "a", count: 64).joined(separator: ".")  // 64 labels: bit 63 stands for 63 or more
        let p = try policy([("block", .block, "xxx\nexample.org\na.b.c.d.example.net\n\(long)\n")])
        XCTAssertEqual(decide(p, "xxx"), "block")
        XCTAssertEqual(decide(p, "www.site.xxx"), "block")
        XCTAssertEqual(decide(p, "www.example.org"), "block")
        XCTAssertEqual(decide(p, "z.a.b.c.d.example.net"), "block")
        XCTAssertNil(decide(p, "b.c.d.example.net"))
        XCTAssertEqual(decide(p, "more." + long), "block")
        XCTAssertNil(decide(p, "org"))
        let withoutTLD = try policy([("block", .block, "example.org\n")])
        XCTAssertNil(decide(withoutTLD, "org"))
        XCTAssertEqual(decide(withoutTLD, "a.b.example.org"), "block")
    }

    /// Robin Hood placement keeps every entry near its home slot, so a lookup for an absent name
    /// ends after a few probes; plain linear probing at the same load leaves runs of a hundred
    /// and more full slots in a table this size.
    func testEntriesStayNearTheirHomeSlot() throws {
        let names = (0..<100_000).map { "n\($0).example" }
        let p = try policy([("block", .block, names.joined(separator: "\n"))])
        XCTAssertEqual(p.table.uniqueCount, 100_000)
        XCTAssertLessThan(p.table.maxDisplacement, 40)
        for index in stride(from: 0, to: 100_000, by: 997) {
            XCTAssertEqual(decide(p, "www.n\(index).example"), "block")
        }
        for index in 0..<1_000 { XCTAssertNil(decide(p, "m\(index).example")) }
    }

    func testAllowBeatsBlockOnTheSameName() throws {
        let p = try policy([("block", .block, "paypal.com\n"), ("allow", .allow, "paypal.com\n")])
        XCTAssertEqual(decide(p, "www.paypal.com"), "allow")
        let reversed = try policy([("allow", .allow, "paypal.com\n"), ("block", .block, "paypal.com\n")])
        XCTAssertEqual(decide(reversed, "paypal.com"), "allow")
    }

    func testMoreSpecificBlockBeatsLessSpecificAllow() throws {
        let p = try policy([("allow", .allow, "example.co.id\n"), ("block", .block, "judi.example.co.id\n")])
        XCTAssertEqual(decide(p, "judi.example.co.id"), "block")
        XCTAssertEqual(decide(p, "www.judi.example.co.id"), "block")
        XCTAssertEqual(decide(p, "shop.example.co.id"), "allow")
    }

    func testOnATieBetweenBlockListsTheFirstListWins() throws {
        let p = try policy([("first", .block, "x.com\n"), ("second", .block, "x.com\n")])
        XCTAssertEqual(decide(p, "x.com"), "first")
        XCTAssertEqual(p.table.uniqueCount, 1)
    }

    func testCaseAndDuplicates() throws {
        let p = try policy([("block", .block, "Steampowered.COM\nsteampowered.com\n")])
        XCTAssertEqual(decide(p, "STORE.steampowered.com"), "block")
        XCTAssertEqual(p.table.uniqueCount, 1)
        XCTAssertEqual(p.entryCount, 2)
    }

    func testManyNamesAllFoundAndOthersNot() throws {
        let count = 50_000
        let text = (0..<count).map { "site\($0).example\($0 % 7).co.id" }.joined(separator: "\n")
        let p = try policy([("big", .block, text)])
        XCTAssertEqual(p.table.uniqueCount, count)
        for index in stride(from: 0, to: count, by: 997) {
            XCTAssertEqual(decide(p, "www.site\(index).example\(index % 7).co.id"), "big")
            XCTAssertNil(decide(p, "site\(index).example\((index + 1) % 7).co.id"))
        }
    }

    func testEmptyPolicyMatchesNothing() throws {
        XCTAssertNil(decide(try policy([]), "paypal.com"))
    }

    func testAllMatchesListsEverySuffixMostSpecificFirst() throws {
        let p = try policy([("allow", .allow, "example.co.id\n"), ("block", .block, "judi.example.co.id\nco.id\n")])
        let wire = try DomainName.wireForm("www.judi.example.co.id").get()
        let matches = wire.withUnsafeBufferPointer { p.allMatches($0) }
        XCTAssertEqual(matches.map(\.member.list), [1, 0, 1])
        XCTAssertEqual(matches.map(\.suffixOffset), [4, 9, 17])
        XCTAssertEqual(matches.map(\.applies), [true, true, true])
    }
}

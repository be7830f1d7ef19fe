import XCTest
@testable import ResolverConfig

/// A zone transfer's delta applied to a compiled policy (`CompiledPolicy.applying`, `NameOverlay`):
/// it changes the answers, shares the table, refuses a delta that does not fit as a whole, asks
/// for a full read for what the overlay cannot carry, and ends where compiling the final zone
/// from scratch ends.
final class PolicyDeltaTests: XCTestCase {
    static let zone = "rpz.test"
    static let head = "$ORIGIN rpz.test.\n@ 60 IN SOA ns h 1 3600 5 86400 60\n@ 60 IN NS ns\n"
    static let targets = [".", "*.", "rpz-passthru.", "rpz-drop."]

    func loaded(_ name: String, _ action: ListAction, _ format: ListFormat, _ text: String) -> LoadedList {
        let settings = ListSettings(name: name, path: "/\(name)", pathAsWritten: name, format: format,
                                    action: action, category: name, configLine: 1)
        return LoadedList(settings: settings, parsed: settings.reader.parse(Array(text.utf8), fileName: name),
                          identity: ListFile.Identity(size: 0, modified: .init(), contentHash: 0),
                          loadSeconds: 0, reused: false)
    }

    /// The RPZ list (index 0) from `records` (owner relative to the zone → CNAME target), a
    /// domains allow list and a domains monitor list.
    func policy(_ records: [String: String], allow: String = "", monitor: String = "",
                precedence: Precedence = .specific) throws -> CompiledPolicy {
        let text = Self.head + records.sorted { $0.key < $1.key }.map { "\($0.key) 60 IN CNAME \($0.value)\n" }.joined()
        return try CompiledPolicy(lists: [loaded("rpz", .block, .rpz, text), loaded("allow", .allow, .domains, allow),
                                          loaded("monitor", .monitor, .domains, monitor)], precedence: precedence)
    }

    func line(_ owner: String, _ target: String) -> String { "\(owner).\(Self.zone). 60 IN CNAME \(target)" }

    func apply(_ policy: CompiledPolicy, deleted: [(String, String)], added: [(String, String)]) throws -> CompiledPolicy {
        let changes = try CompiledPolicy.rpzChanges(deleted: deleted.map { line($0.0, $0.1) },
                                                    added: added.map { line($0.0, $0.1) }, zone: Self.zone)
        return try policy.applying(changes, toList: 0)
    }

    /// What decides for `query`: list, rule action and suffix offset, or "-"; plus the monitor hits.
    func verdict(_ policy: CompiledPolicy, _ query: String) -> String {
        let wire = try! DomainName.wireForm(query).get()
        let active = [Bool](repeating: true, count: policy.lists.count)
        return wire.withUnsafeBufferPointer { name in
            let decided = policy.decide(name, active: active).map { match in
                "\(policy.lists[match.listIndex].settings.name) "
                    + "\(policy.lists[match.listIndex].parsed.rules[match.ruleIndex].actionName) @\(match.suffixOffset)"
            } ?? "-"
            let hits = policy.monitorHits(name, active: active).map { "\($0.listIndex)@\($0.suffixOffset)" }
            return decided + " " + hits.joined(separator: ",") + " \(policy.allMatches(name).count)"
        }
    }

    func testADeltaChangesTheAnswersAndSharesTheTable() throws {
        let base = try policy(["a.example": ".", "b.example": "*.", "*.w.example": "rpz-drop.", "p.example": "rpz-passthru."])
        XCTAssertNil(base.overlay)
        let next = try apply(base, deleted: [("a.example", "."), ("*.w.example", "rpz-drop.")],
                             added: [("c.example", "."), ("*.v.example", "rpz-drop."), ("b.example", "*.")])
        XCTAssertTrue(next.table === base.table, "the table is shared, not built again")
        XCTAssertEqual(next.overlay?.count, 4, "a, w, c and v changed; b was there already")
        XCTAssertEqual(verdict(next, "a.example"), "-  0")
        XCTAssertEqual(verdict(base, "a.example"), "rpz nxdomain @0  1", "the policy before is untouched")
        XCTAssertTrue(verdict(next, "c.example").hasPrefix("rpz nxdomain @0"))
        XCTAssertTrue(verdict(next, "x.v.example").hasPrefix("rpz drop @2"))
        XCTAssertTrue(verdict(next, "v.example").hasPrefix("- "), "a wildcard covers the names below only")
        XCTAssertTrue(verdict(next, "x.w.example").hasPrefix("- "))
        XCTAssertTrue(verdict(next, "b.example").hasPrefix("rpz nodata @0"))
        XCTAssertEqual(next.entries(ofList: 0), base.entries(ofList: 0) + 0)
        // Deleted and added back: the overlay forgets the name, the table answers again.
        let back = try apply(next, deleted: [("c.example", ".")], added: [("a.example", ".")])
        XCTAssertTrue(verdict(back, "a.example").hasPrefix("rpz nxdomain @0"))
        XCTAssertEqual(back.overlay?.count, 2, "w and v still differ from the table")
    }

    func testADeltaThatDoesNotFitIsRefusedWhole() throws {
        let base = try policy(["a.example": ".", "b.example": "*."])
        // The first change fits, the second deletes a name the zone does not hold: nothing applies.
        XCTAssertThrowsError(try apply(base, deleted: [("a.example", "."), ("zzz.example", ".")], added: [])) { error in
            guard case CompiledPolicy.DeltaProblem.inconsistent = error else { return XCTFail("\(error)") }
        }
        // Deleting a name with another action than it has: not there either.
        XCTAssertThrowsError(try apply(base, deleted: [("a.example", "*.")], added: [])) { error in
            guard case CompiledPolicy.DeltaProblem.inconsistent = error else { return XCTFail("\(error)") }
        }
        // Deleting twice what is there once.
        XCTAssertThrowsError(try apply(base, deleted: [("a.example", "."), ("a.example", ".")], added: []))
        XCTAssertNil(base.overlay)
        XCTAssertTrue(verdict(base, "a.example").hasPrefix("rpz nxdomain @0"))
    }

    func testWhatTheOverlayCannotCarryAsksForAFullRead() throws {
        let base = try policy(["a.example": "."])
        func needsFullRead(_ body: () throws -> Void, _ why: String) {
            XCTAssertThrowsError(try body(), why) { error in
                guard case CompiledPolicy.DeltaProblem.needsFullRead = error else { return XCTFail("\(why): \(error)") }
            }
        }
        needsFullRead({ _ = try apply(base, deleted: [], added: [("n.example", "rpz-tcp-only.")]) },
                      "a rule the list has no template for")
        needsFullRead({ _ = try apply(base, deleted: [], added: [("a.example", "*.")]) }, "two actions for one trigger")
        needsFullRead({ _ = try CompiledPolicy.rpzChanges(deleted: [], added: ["l.example.rpz.test. 60 IN A 192.0.2.1"],
                                                          zone: Self.zone) }, "local data")
        needsFullRead({ _ = try CompiledPolicy.rpzChanges(deleted: ["32.1.2.0.192.rpz-ip.rpz.test. 60 IN CNAME ."],
                                                          added: [], zone: Self.zone) }, "an rpz-ip trigger")
        needsFullRead({ _ = try CompiledPolicy.rpzChanges(deleted: [], added: ["x.elsewhere. 60 IN CNAME ."],
                                                          zone: Self.zone) }, "a record outside the zone")
    }

    /// Random deltas applied one after another give, name for name, what compiling the final zone
    /// from scratch gives: decisions, monitor hits and matches, under both precedences.
    func testIncrementalDeltasEqualTheZoneCompiledFromScratch() throws {
        var generator = SeededGenerator(seed: 12)
        var owners: [String: String] = [:]
        for index in 0..<300 {
            let owner = (index % 7 == 0 ? "*." : "") + "n\(index).example"
            owners[owner] = Self.targets[index % Self.targets.count]
        }
        let allow = (0..<300).filter { $0 % 11 == 0 }.map { "n\($0).example\n" }.joined()
        let monitor = (0..<300).filter { $0 % 13 == 0 }.map { "n\($0).example\n" }.joined()
        var probes = (0..<360).flatMap { ["n\($0).example", "x.n\($0).example"] }
        probes.append("example")
        for precedence in [Precedence.specific, .listed] {
            var model = owners
            var incremental = try policy(model, allow: allow, monitor: monitor, precedence: precedence)
            for _ in 0..<6 {
                let deleted = model.keys.sorted().shuffled(using: &generator).prefix(25).map { ($0, model[$0]!) }
                for (owner, _) in deleted { model[owner] = nil }
                var added: [(String, String)] = []
                for _ in 0..<25 {
                    let index = Int.random(in: 0..<360, using: &generator)
                    let owner = (Bool.random(using: &generator) ? "*." : "") + "n\(index).example"
                    if model[owner] != nil || added.contains(where: { $0.0 == owner }) { continue }
                    added.append((owner, Self.targets.randomElement(using: &generator)!))
                }
                for (owner, target) in added { model[owner] = target }
                incremental = try apply(incremental, deleted: deleted, added: added)
                let scratch = try policy(model, allow: allow, monitor: monitor, precedence: precedence)
                for probe in probes {
                    XCTAssertEqual(verdict(incremental, probe), verdict(scratch, probe), "\(probe), \(precedence)")
                }
                XCTAssertEqual(incremental.entries(ofList: 0), scratch.entries(ofList: 0))
            }
            XCTAssertTrue(incremental.table.uniqueCount > 0 && (incremental.overlay?.count ?? 0) > 0)
        }
    }
}

/// A small deterministic generator (SplitMix64), so a failure can be run again.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import Foundation
import XCTest
@testable import ResolverConfig

/// A reload fails closed per list: a list whose file is now junk, has too many bad lines or was
/// emptied keeps its previous entries, while the other lists are reloaded.
final class PolicyLoaderTests: XCTestCase {
    var folder: URL!
    let loader = PolicyLoader()

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// The settings of a config with `lists` (YAML list items) in the test's folder.
    func settings(_ lists: String...) throws -> ResolverSettings {
        let yaml = "upstreams: [\"192.0.2.1\"]\nlists:\n" + lists.map { "  - \($0)\n" }.joined()
        return try ConfigLoader(resolvConfPath: "/nonexistent/resolv.conf", coreCount: 1)
            .parse(yaml: yaml, path: folder.appendingPathComponent("c.yml").path, displayName: "c.yml")
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }

    /// Bytes 0 to 255, three times: no line of it is a name (every one holds a byte no name has).
    static let binaryJunk = Data((0..<768).map { UInt8($0 % 256) })

    func names(_ list: LoadedList) -> [String] {
        var names: [String] = []
        list.parsed.forEachName { _, range in names.append(DomainName.presentation(ofWire: list.parsed.arena[range])) }
        return names
    }

    func list(_ policy: CompiledPolicy, _ name: String) throws -> LoadedList {
        try XCTUnwrap(policy.lists.first { $0.settings.name == name })
    }

    func testJunkKeepsThePreviousEntriesUntilTheFileIsFixed() throws {
        let config = try settings("{ name: pse, path: pse.txt }", "{ name: other, path: other.txt }")
        try write("pse.txt", "blocked.example\n")
        try write("other.txt", "other.example\n")
        let first = try loader.load(config)
        XCTAssertNil(try list(first, "pse").fault)

        try Self.binaryJunk.write(to: folder.appendingPathComponent("pse.txt"))
        try write("other.txt", "other.example\nnew.example\n")
        let kept = try loader.load(config, previous: first)
        let pse = try list(kept, "pse")
        XCTAssertTrue(pse.keptPrevious)
        XCTAssertEqual(pse.fault, "no valid entries, 4 skipped lines")
        XCTAssertTrue(pse.parsed === (try list(first, "pse")).parsed)
        XCTAssertEqual(pse.identity, try list(first, "pse").identity, "the identity of the file the entries came from")
        XCTAssertEqual(names(try list(kept, "other")), ["other.example.", "new.example."], "the other list reloads")

        // The junk is never taken for an unchanged file: read again, kept again, and the index too.
        let again = try loader.load(config, previous: kept)
        XCTAssertTrue(again === kept)
        XCTAssertTrue(try list(again, "pse").keptPrevious)
        XCTAssertEqual(names(try list(again, "pse")), ["blocked.example."])

        try write("pse.txt", "fixed.example\n")
        let fixed = try loader.load(config, previous: again)
        let taken = try list(fixed, "pse")
        XCTAssertFalse(taken.keptPrevious)
        XCTAssertNil(taken.fault)
        XCTAssertEqual(names(taken), ["fixed.example."])
    }

    /// An RPZ zone that keeps its SOA and loses its triggers is a policy emptied on purpose (the
    /// PowerDNS transfer test empties its zone so): taken, unlike an emptied domains file.
    func testAnRPZZoneEmptiedButForItsSOAIsTaken() throws {
        let config = try settings("{ name: rpz, path: z.rpz, format: rpz }", "{ name: plain, path: plain.txt }")
        let soa = "$ORIGIN rpz.test.\n@ SOA localhost. root.localhost. 2 3600 600 86400 300\n"
        try write("z.rpz", soa + "blocked.example CNAME .\n")
        try write("plain.txt", "plain.example\n")
        let first = try loader.load(config)
        try write("z.rpz", soa)
        try write("plain.txt", "")
        let second = try loader.load(config, previous: first)
        XCTAssertFalse(try list(second, "rpz").keptPrevious)
        XCTAssertEqual(try list(second, "rpz").parsed.entryTotal, 0)
        XCTAssertTrue(try list(second, "plain").keptPrevious, "an emptied domains file is kept")
    }

    /// Without `max_bad_lines`, 1% of the entries may be skipped lines, at least 1000: the junk of
    /// a 10-million-name national list is no fault.
    func testTheDefaultBadLineLimitGrowsWithTheList() throws {
        let list = try settings("{ name: a, path: a.txt }").lists[0]
        XCTAssertEqual(list.badLineLimit(entries: 5_000), 1000)
        XCTAssertEqual(list.badLineLimit(entries: 10_000_000), 100_000)
        let strict = try settings("{ name: a, path: a.txt, max_bad_lines: 7 }").lists[0]
        XCTAssertEqual(strict.badLineLimit(entries: 10_000_000), 7)
    }

    func testTooManyBadLinesKeepThePreviousEntries() throws {
        let config = try settings("{ name: strict, path: strict.txt, max_bad_lines: 2 }", "{ name: plain, path: plain.txt }")
        try write("strict.txt", "a.example\nb.example\nc.example\nd.example\n")
        try write("plain.txt", "a.example\nb.example\n")
        let first = try loader.load(config)
        // Three bad lines among four names: more than the list's max_bad_lines.
        try write("strict.txt", "a.example\nb.example\nc.example\nd.example\nbad..name\nhttp://x.example/\n10.0.0.1\n")
        // Two bad lines and one name: under the default max_bad_lines, but more junk than names.
        try write("plain.txt", "c.example\nbad..name\nhttp://x.example/\n")
        let reloaded = try loader.load(config, previous: first)
        let strict = try list(reloaded, "strict")
        XCTAssertTrue(strict.keptPrevious)
        XCTAssertEqual(strict.fault, "3 skipped lines, more than max_bad_lines (2)")
        XCTAssertEqual(strict.parsed.problemCount, 0, "the entries of the file before")
        let plain = try list(reloaded, "plain")
        XCTAssertTrue(plain.keptPrevious)
        XCTAssertEqual(plain.fault, "more skipped lines (2) than entries (1)")
        XCTAssertEqual(names(plain), ["a.example.", "b.example."])
    }

    /// A truncated download looks like an emptied file: kept. A list empty on purpose stays so.
    func testAnEmptiedFileKeepsItsEntriesButAnEmptyListMayStayEmpty() throws {
        let config = try settings("{ name: block, path: block.txt }", "{ name: ok, path: ok.txt, action: allow }")
        try write("block.txt", "blocked.example\n")
        try write("ok.txt", "")
        let first = try loader.load(config)
        XCTAssertNil(try list(first, "ok").fault, "an empty file on its own is no fault")
        try write("block.txt", "# nothing left\n")
        try write("ok.txt", "# still nothing\n")
        let reloaded = try loader.load(config, previous: first)
        let block = try list(reloaded, "block")
        XCTAssertTrue(block.keptPrevious)
        XCTAssertEqual(block.fault, "no entries (an empty file, or only comments) where there were 1")
        XCTAssertEqual(names(block), ["blocked.example."])
        let ok = try list(reloaded, "ok")
        XCTAssertFalse(ok.keptPrevious)
        XCTAssertNil(ok.fault)
    }

    /// At start, and for a list new in the config, there is nothing to keep: loaded as read, with
    /// the fault for the caller to report.
    func testWithNothingToKeepTheListLoadsAsReadWithItsFault() throws {
        try Self.binaryJunk.write(to: folder.appendingPathComponent("junk.txt"))
        try write("good.txt", "good.example\n")
        let start = try loader.load(try settings("{ name: junk, path: junk.txt }"))
        let junk = try list(start, "junk")
        XCTAssertFalse(junk.keptPrevious)
        XCTAssertEqual(junk.fault, "no valid entries, 4 skipped lines")
        XCTAssertEqual(junk.parsed.entryTotal, 0)

        let added = try loader.load(try settings("{ name: good, path: good.txt }", "{ name: new, path: junk.txt }"),
                                    previous: try loader.load(try settings("{ name: good, path: good.txt }")))
        XCTAssertFalse(try list(added, "new").keptPrevious)
        XCTAssertEqual(try list(added, "new").fault, "no valid entries, 4 skipped lines")
    }

    func testAVanishedFileStillFailsTheWholeReload() throws {
        let config = try settings("{ name: pse, path: pse.txt }")
        try write("pse.txt", "blocked.example\n")
        let first = try loader.load(config)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("pse.txt"))
        XCTAssertThrowsError(try loader.load(config, previous: first)) { error in
            XCTAssertTrue("\(error)".hasPrefix("list pse: cannot read"), "\(error)")
        }
    }
}

import Foundation
import XCTest
@testable import ResolverConfig

/// Line ends and text encodings of line lists: CR-only files are read line by line, UTF-16
/// files are refused whole with one reason, a UTF-8 byte-order mark is skipped.
final class ListEncodingTests: XCTestCase {
    func names(_ list: ParsedList) -> [String] {
        var result: [String] = []
        list.forEachName { _, range in result.append(DomainName.presentation(ofWire: list.arena[range])) }
        return result
    }

    func testCROnlyLineEndsEndLines() {
        let domains = DomainsReader().parse(Array("a.example\rbad..name\r# note\rb.example\r".utf8),
                                            fileName: "mac", recordLines: true)
        XCTAssertEqual(names(domains), ["a.example.", "b.example."])
        XCTAssertEqual(domains.lines, [1, 4])
        XCTAssertEqual(domains.problems.map(\.line), [2])

        let hosts = HostsReader().parse(Array("0.0.0.0 a.example\r0.0.0.0 b.example".utf8), fileName: "h")
        XCTAssertEqual(names(hosts), ["a.example.", "b.example."])
        let ips = IPsReader().parse(Array("192.0.2.1\r198.51.100.0/24\r".utf8), fileName: "i")
        XCTAssertEqual(ips.addresses.count, 2)
        XCTAssertEqual(ips.problemCount, 0)
    }

    /// CR-only and CRLF files cut into two chunks anywhere read the same (a CR-only file's first
    /// chunk, 4 MiB when streamed, shows it has no LF). In a file with LFs a CR is white space.
    func testLineEndsWhereverTheChunksAreCut() {
        let mac = Array("a.example\rbad..name\r\rb.example\rbad..too".utf8)
        let windows = Array("a.example\r\nbad..name\r\n\r\nb.example\r\nbad..too".utf8)
        for (text, firstCut) in [(mac, 0), (windows, 11)] {
            for cut in firstCut...text.count {
                var builder = ListBuilder(fileName: "w", recordLines: true)
                var lines = ListLines(reader: DomainsReader())
                lines.feed(text[..<cut], into: &builder)
                lines.feed(text[cut...], into: &builder)
                lines.finish(into: &builder)
                let list = builder.finish()
                XCTAssertEqual(names(list), ["a.example.", "b.example."], "cut at \(cut)")
                XCTAssertEqual(list.lines, [1, 4], "cut at \(cut)")
                XCTAssertEqual(list.problems.map(\.line), [2, 5], "cut at \(cut)")
            }
        }
        let mixed = DomainsReader().parse(Array("a.example\n\rb.example\r\n".utf8), fileName: "m", recordLines: true)
        XCTAssertEqual(mixed.lines, [1, 2])
    }

    /// A line longer than any entry (a gigabyte of NUL bytes has no line end) is one problem,
    /// and its bytes are not held, however the chunks cut it.
    func testAnOverlongLineIsOneProblemWhereverTheChunksAreCut() {
        let long = [UInt8](repeating: 0, count: 200_000)
        let text = Array("a.example\n".utf8) + long + Array("\nb.example\n".utf8) + long
        for chunk in [1 << 12, 65_536, 1 << 20] {
            var builder = ListBuilder(fileName: "z", recordLines: true)
            var lines = ListLines(reader: DomainsReader())
            var start = 0
            while start < text.count {
                lines.feed(text[start..<min(start + chunk, text.count)], into: &builder)
                start += chunk
            }
            lines.finish(into: &builder)
            let list = builder.finish()
            XCTAssertEqual(names(list), ["a.example.", "b.example."], "chunks of \(chunk)")
            XCTAssertEqual(list.problems.map(\.line), [2, 4], "chunks of \(chunk)")
            XCTAssertEqual(list.problems.first?.reason, "a line of more than 65536 bytes, which no list entry needs; skipped")
        }
    }

    func testScanCountsTheLineEndsOfEachStyle() throws {
        let folder = try TestTools.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for (style, end) in [("unix", "\n"), ("windows", "\r\n"), ("mac", "\r")] {
            let url = folder.appendingPathComponent(style)
            let text = Array((1...5).map { "n\($0).example" + end }.joined().utf8)
            try Data(text).write(to: url)
            XCTAssertEqual(try ListFile.scan(path: url.path).newlines, 5, style)
            // Streamed as `run` reads it: the arena reserved is enough, the names are all there.
            let reader = DomainsReader()
            var builder = ListBuilder(fileName: style)
            try reader.read(try reader.open(url.path, displayName: style), into: &builder)
            XCTAssertEqual(builder.finish().count, 5, style)
        }
    }

    func utf16(_ text: String, bigEndian: Bool, mark: Bool) -> [UInt8] {
        var bytes: [UInt8] = mark ? (bigEndian ? [0xFE, 0xFF] : [0xFF, 0xFE]) : []
        for unit in text.utf16 {
            let pair = [UInt8(unit & 0xFF), UInt8(unit >> 8)]
            bytes += bigEndian ? pair.reversed() : pair
        }
        return bytes
    }

    func testUTF16IsRefusedWithOneProblem() throws {
        let text = (1...200).map { "n\($0).example\r\n" }.joined()
        let cases: [(Bool, Bool, String)] = [
            (false, true, "a byte-order mark FF FE, little-endian"),
            (true, true, "a byte-order mark FE FF, big-endian"),
            (false, false, "no byte-order mark, NUL bytes after the characters: little-endian"),
            (true, false, "no byte-order mark, NUL bytes before the characters: big-endian"),
        ]
        for (bigEndian, mark, evidence) in cases {
            let list = DomainsReader().parse(utf16(text, bigEndian: bigEndian, mark: mark), fileName: "u")
            XCTAssertEqual(list.count, 0, evidence)
            XCTAssertEqual(list.problemCount, 1, evidence)
            XCTAssertEqual(list.problems.map(\.description),
                           ["u:1: the file is UTF-16 text (\(evidence)), not read; save it as UTF-8"])
        }
        // Fail-closed like any list of no valid entries: a reload keeps the previous entries.
        let settings = ListSettings(name: "l", path: "/l", pathAsWritten: "l", format: .hosts, action: .block,
                                    category: "l", configLine: 1)
        let hosts = HostsReader().parse(utf16("0.0.0.0 a.example\n", bigEndian: false, mark: true), fileName: "h")
        XCTAssertEqual(PolicyLoader.fault(of: hosts, list: settings, previousEntries: 10),
                       "no valid entries, 1 skipped lines")
        XCTAssertEqual(IPsReader().parse(utf16("192.0.2.1\n", bigEndian: true, mark: true), fileName: "i").problemCount, 1)
        // RPZ zones are refused the same way, before ldns reads them.
        let zone = RPZReader(origin: "rpz.test").parse(utf16("@ SOA ns h 1 2 3 4 5\n", bigEndian: false, mark: true),
                                                        fileName: "z")
        XCTAssertEqual(zone.problems.map(\.description),
                       ["z:1: the file is UTF-16 text (a byte-order mark FF FE, little-endian), not read; save it as UTF-8"])
    }

    /// Some NUL bytes (a binary file) are junk line by line, not UTF-16; a UTF-8 mark is skipped.
    func testOtherBytesAreNotTakenForUTF16() {
        XCTAssertNil(ListEncoding.problem(Array((0..<768).map { UInt8($0 % 256) })[...]))
        XCTAssertNil(ListEncoding.problem(Array("a.example\n".utf8)[...]))
        let marked = DomainsReader().parse([0xEF, 0xBB, 0xBF] + Array("bücher.example\rb.example\r".utf8), fileName: "m")
        XCTAssertEqual(names(marked), ["xn--bcher-kva.example.", "b.example."])
        XCTAssertEqual(marked.problemCount, 0)
    }
}

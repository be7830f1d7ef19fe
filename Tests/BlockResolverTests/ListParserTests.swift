import Foundation
import XCTest
@testable import ResolverConfig

final class ListParserTests: XCTestCase {
    func names(_ list: ParsedList) -> [String] {
        var result: [String] = []
        list.forEachName { _, range in result.append(DomainName.presentation(ofWire: list.arena[range])) }
        return result
    }

    func testDomainsFormatSkipsCommentsBlanksAndBadLinesWithLineNumbers() {
        let text = """
            # ministry list
            paypal.com

            Steampowered.COM.   # trailing comment
            http://judi.example.com/
            bad..name
            192.0.2.7
            two names.com here.com
            ok.co.id\r
            """
        let list = DomainsReader().parse(Array(text.utf8), fileName: "lists/pse.txt")
        XCTAssertEqual(names(list), ["paypal.com.", "steampowered.com.", "ok.co.id."])
        XCTAssertEqual(list.count, 3)
        XCTAssertEqual(list.problemCount, 4)
        XCTAssertEqual(list.problems.map(\.line), [5, 6, 7, 8])
        XCTAssertEqual(list.problems[0].description,
                       "lists/pse.txt:5: a URL, not a domain name: \"http://judi.example.com/\"")
        XCTAssertTrue(list.problems[1].description.hasPrefix("lists/pse.txt:6: empty label"))
        XCTAssertTrue(list.problems[2].description.hasPrefix("lists/pse.txt:7: an IP address"))
    }

    func testHostsFormatTakesEveryNameAfterTheAddress() {
        let text = """
            127.0.0.1 localhost
            ::1 localhost ip6-localhost
            0.0.0.0 a.example.com b.example.com # two
            0.0.0.0\tc.example.com
            d.example.com
            not-an-ip e.example.com
            0.0.0.0 bad..name f.example.com
            """
        let list = HostsReader().parse(Array(text.utf8), fileName: "h")
        XCTAssertEqual(names(list), ["a.example.com.", "b.example.com.", "c.example.com.", "f.example.com."])
        XCTAssertEqual(list.ignoredCount, 3)
        XCTAssertEqual(list.problems.map(\.line), [5, 6, 7])
    }

    func testEmptyFileAndFileWithoutFinalNewline() {
        XCTAssertEqual(DomainsReader().parse([], fileName: "e").count, 0)
        XCTAssertEqual(names(DomainsReader().parse(Array("a.com\nb.com".utf8), fileName: "e")),
                       ["a.com.", "b.com."])
    }

    func testNonASCIIBytesAreReportedAsHexNotCrashed() {
        // `café` in ISO 8859-1: not UTF-8, so no internationalised name either.
        let bytes: [UInt8] = Array("caf".utf8) + [0xE9] + Array(".id\n\u{0}\n".utf8)
        let list = DomainsReader().parse(bytes, fileName: "u")
        XCTAssertEqual(list.count, 0)
        XCTAssertEqual(list.problems.map(\.description),
                       [#"u:1: bytes that are not UTF-8 text (an internationalised name must be saved as UTF-8): "caf\xE9.id""#,
                        #"u:2: invalid byte \x00: "\x00""#])
    }

    func testByteOrderMarkAndTrailingDotLocalhost() {
        let domains = DomainsReader().parse([0xEF, 0xBB, 0xBF] + Array("paypal.com\n".utf8), fileName: "b")
        XCTAssertEqual(names(domains), ["paypal.com."])
        let hosts = HostsReader().parse(Array("127.0.0.1 localhost. x.com\n".utf8), fileName: "h")
        XCTAssertEqual(names(hosts), ["x.com."])
        XCTAssertEqual(hosts.ignoredCount, 1)
    }

    func testChunkedParsingMatchesWholeFileParsing() throws {
        let text = "\u{FEFF}# header\npaypal.com\r\nbad..name\n\nSteam.COM  # c\nhttp://x/\nlast.example"
        let bytes = Array(text.utf8)
        let reader = DomainsReader()
        let whole = reader.parse(bytes, fileName: "f", recordLines: true)
        for size in 1...9 {
            var builder = ListBuilder(fileName: "f", recordLines: true)
            var lines = ListLines(reader: reader)
            var index = 0
            while index < bytes.count {
                lines.feed(bytes[index..<min(index + size, bytes.count)], into: &builder)
                index += size
            }
            lines.finish(into: &builder)
            let chunked = builder.finish()
            XCTAssertEqual(chunked.arena, whole.arena, "chunks of \(size)")
            XCTAssertEqual(chunked.lines, whole.lines, "chunks of \(size)")
            XCTAssertEqual(chunked.problems, whole.problems, "chunks of \(size)")
        }
        XCTAssertEqual(names(whole), ["paypal.com.", "steam.com.", "last.example."])
        XCTAssertEqual(whole.lines, [2, 5, 7])

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("list-\(UUID().uuidString).txt")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let scan = try ListFile.scan(path: url.path)
        XCTAssertEqual(scan.newlines, 6)
        XCTAssertEqual(scan.identity, try ListFile.read(path: url.path).identity)
        let source = try reader.open(url.path, displayName: "f")
        XCTAssertEqual(source.identity, scan.identity)
        var builder = ListBuilder(fileName: "f", recordLines: true)
        try reader.read(source, into: &builder)
        let fromFile = builder.finish()
        XCTAssertEqual(fromFile.arena, whole.arena)
        XCTAssertEqual(fromFile.lines, whole.lines)
        // Sized from the scan, not grown: the arena's capacity stays with the list.
        let reserved = DomainsReader.arenaCapacity(size: bytes.count, newlines: 6)
        XCTAssertTrue((reserved..<reserved + 64).contains(fromFile.arena.capacity), "\(fromFile.arena.capacity)")
    }
}

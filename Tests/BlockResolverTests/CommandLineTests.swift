import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `block-resolver check`, `--help` and start-up failures, run as the built binary.
final class CommandLineTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// Runs the binary with `arguments`; returns its exit status and everything it printed.
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestTools.run(try TestTools.binary(), arguments)
    }

    func write(_ name: String, _ contents: String) throws {
        try contents.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    func testCheckReportsCountsAndBadLinesAndExitsZero() throws {
        try write("c.yml", """
            upstreams: ["127.0.0.1:5300"]
            lists:
              - { name: pse, path: lists/pse.txt, action: block, category: "PSE not registered" }
              - { name: hosts, path: lists/h.hosts, format: hosts, action: block }
            """)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("lists"), withIntermediateDirectories: true)
        try write("lists/pse.txt",
                  "paypal.com\nhttps://steampowered.com/store\nbad..name\n10.0.0.1\nsteampowered.com\nsteampowered.net\n")
        try write("lists/h.hosts", "0.0.0.0 a.example b.example\n")
        let result = try run(["check", "--config", folder.appendingPathComponent("c.yml").path])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("list pse (domains, block): 3 entries, 3 skipped lines"), result.output)
        XCTAssertTrue(result.output.contains("list hosts (hosts, block): 2 entries"), result.output)
        XCTAssertTrue(result.output.contains("lists/pse.txt:2: a URL, not a domain name"), result.output)
        XCTAssertTrue(result.output.contains("lists/pse.txt:3: empty label"), result.output)
        XCTAssertTrue(result.output.contains("lists/pse.txt:4: an IP address"), result.output)
    }

    func testCheckExitsOneOnConfigErrorWithKeyAndLine() throws {
        try write("c.yml", "upstreams: [\"192.0.2.1\"]\nlists:\n  - { name: a, path: a.txt, action: deny }\n")
        let result = try run(["check", "--config", folder.appendingPathComponent("c.yml").path])
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("c.yml:3: lists[0].action: \"deny\" is not one of block, allow"),
                      result.output)
    }

    /// A list that is mostly junk, or has more bad lines than `max_bad_lines`, is not one to
    /// serve: exit 1. An empty list is a warning only (an allow list may be empty on purpose).
    func testCheckExitsOneOnAListFileThatIsNotAList() throws {
        try write("c.yml", """
            upstreams: ["127.0.0.1:5300"]
            lists:
              - { name: junk, path: junk.txt }
              - { name: strict, path: strict.txt, max_bad_lines: 1 }
              - { name: ok, path: ok.txt, action: allow }
            """)
        try Data((0..<768).map { UInt8($0 % 256) }).write(to: folder.appendingPathComponent("junk.txt"))
        try write("strict.txt", "a.example\nb.example\nc.example\nbad..name\n10.0.0.1\n")
        try write("ok.txt", "# nobody yet\n")
        let result = try run(["check", "--config", folder.appendingPathComponent("c.yml").path])
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("error: list junk (junk.txt): no valid entries, 4 skipped lines; "
                                             + "a reload would keep the entries the list has now"), result.output)
        XCTAssertTrue(result.output.contains("error: list strict (strict.txt): 2 skipped lines, more than max_bad_lines (1)"),
                      result.output)
        XCTAssertTrue(result.output.contains("warning: list ok (ok.txt): no entries"), result.output)
        XCTAssertTrue(result.output.hasSuffix("NOT usable\n"), result.output)

        try write("c.yml", "upstreams: [\"127.0.0.1:5300\"]\nlists:\n  - { name: ok, path: ok.txt, action: allow }\n")
        let empty = try run(["check", "--config", folder.appendingPathComponent("c.yml").path])
        XCTAssertEqual(empty.status, 0, empty.output)
        XCTAssertTrue(empty.output.contains("warning: list ok (ok.txt): no entries"), empty.output)
    }

    /// A CR-only list is read line by line; a UTF-16 one is refused with its reason, once.
    func testCheckReadsACROnlyListAndRefusesAUTF16One() throws {
        try write("c.yml", """
            upstreams: ["127.0.0.1:5300"]
            lists:
              - { name: mac, path: mac.txt }
              - { name: wide, path: wide.txt }
            """)
        try Data("a.example\rbad..name\rbücher.example\r".utf8).write(to: folder.appendingPathComponent("mac.txt"))
        var wide: [UInt8] = [0xFF, 0xFE]
        for unit in "a.example\r\nb.example\r\n".utf16 { wide += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        try Data(wide).write(to: folder.appendingPathComponent("wide.txt"))
        let result = try run(["check", "--config", folder.appendingPathComponent("c.yml").path])
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("list mac (domains, block): 2 entries, 1 skipped lines"), result.output)
        XCTAssertTrue(result.output.contains("mac.txt:2: empty label"), result.output)
        XCTAssertTrue(result.output.contains(
            "wide.txt:1: the file is UTF-16 text (a byte-order mark FF FE, little-endian), not read; save it as UTF-8"),
            result.output)
        XCTAssertTrue(result.output.contains("error: list wide (wide.txt): no valid entries, 1 skipped lines"), result.output)

        let explain = try run(["explain", "--config", folder.appendingPathComponent("c.yml").path, "www.Bücher.example"])
        XCTAssertTrue(explain.output.contains("entry xn--bcher-kva.example. in list mac"), explain.output)
    }

    func testCheckExitsOneOnMissingListFile() throws {
        try write("c.yml", "upstreams: [\"192.0.2.1\"]\nlists:\n  - { name: a, path: nowhere.txt }\n")
        let result = try run(["check", "--config", folder.appendingPathComponent("c.yml").path])
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("nowhere.txt: No such file or directory"), result.output)
    }

    func testCheckExitsOneOnMissingConfig() throws {
        let result = try run(["check", "--config", folder.appendingPathComponent("none.yml").path])
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("cannot read the config file"), result.output)
    }

    func testDefaultConfigIsValid() throws {
        let config = TestTools.packageRoot.appendingPathComponent("config/block-resolver.yml").path
        let result = try run(["check", "--config", config])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("list pse-unregistered (domains, block)"), result.output)
        XCTAssertFalse(result.output.contains("skipped"), result.output)
    }

    func testHelpIsCompleteForEveryCommand() throws {
        let top = try run(["--help"])
        XCTAssertEqual(top.status, 0)
        for word in ["run", "check", "SIGHUP"] { XCTAssertTrue(top.output.contains(word), top.output) }
        let runHelp = try run(["run", "--help"])
        for word in ["--config", "--log-level", "SIGHUP", "SIGTERM"] {
            XCTAssertTrue(runHelp.output.contains(word), runHelp.output)
        }
        let checkHelp = try run(["check", "--help"])
        for word in ["--config", "file:line: reason", "Exits 0"] {
            XCTAssertTrue(checkHelp.output.contains(word), checkHelp.output)
        }
    }

    func testRunFailsFastOnBadConfigAndTakenPort() throws {
        try write("bad.yml", "listen: [\"127.0.0.1:5353\"]\nlist: []\n")
        let bad = try run(["run", "--config", folder.appendingPathComponent("bad.yml").path])
        XCTAssertEqual(bad.status, 1, bad.output)
        XCTAssertTrue(bad.output.contains("bad.yml:2: list: unknown key"), bad.output)

        // A port another server holds: a clear message and exit 1, not a silent shared port.
        let holder = try TestTools.freePort()
        let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(tcp) }
        let listening = RawDNS.withLoopback(port: holder) { bind(tcp, $0, $1) == 0 && listen(tcp, 1) == 0 }
        XCTAssertTrue(listening)
        try write("taken.yml", "listen: [\"127.0.0.1:\(holder)\"]\nupstreams: [\"127.0.0.1:1\"]\nlists: []\n")
        let taken = try run(["run", "--config", folder.appendingPathComponent("taken.yml").path])
        XCTAssertEqual(taken.status, 1, taken.output)
        XCTAssertTrue(taken.output.contains("cannot listen on 127.0.0.1:\(holder)"), taken.output)
        XCTAssertTrue(taken.output.contains("another program is using this port"), taken.output)
    }
}

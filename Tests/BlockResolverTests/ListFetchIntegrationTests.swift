import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Lists downloaded over HTTPS from a real server started by each test (Python's http.server in
/// TLS, `ListServer`, with a CA made by openssl): the first download, conditional requests (304),
/// changes, broken downloads that keep the last good copy, a server down at start, gzip, SIGHUP.
/// The resolver is the built binary; names are asked with dig. No test waits on a clock: each
/// polls for a condition with a bounded deadline.
final class ListFetchIntegrationTests: ListFetchTestCase {
    func testFirstDownloadThenNotModifiedThenAChange() throws {
        let server = try ListServer(folder: folder)
        try server.write("tp.txt", "blocked.example\nsecond.example\n")
        try server.start()
        let metricsPort = try TestTools.freePort()
        let resolver = try startResolver(lists: [Self.list("tp", url: server.url("tp.txt"), ca: server.caPath)],
                                         metricsPort: metricsPort)
        // No copy at start: served empty, said loudly; the first download comes in the background.
        XCTAssertFalse(lines(resolver.server.log, "served EMPTY until the first download").isEmpty, resolver.server.log)
        XCTAssertTrue(try eventually { try status(resolver, "blocked.example") == "NXDOMAIN" }, resolver.server.log)
        XCTAssertEqual(try status(resolver, "second.example"), "NXDOMAIN")
        XCTAssertEqual(try status(resolver, "new.example"), "NOERROR")
        XCTAssertEqual(server.requests.count, 1, server.requests.joined(separator: "\n"))
        XCTAssertTrue(server.requests[0].contains("status=200"), server.requests[0])
        XCTAssertTrue(server.requests[0].contains("if-none-match=[]"), server.requests[0])
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("tp.txt"), encoding: .utf8),
                       "blocked.example\nsecond.example\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("tp.txt.meta").path))
        let first = try XCTUnwrap(lines(resolver.server.log, "list fetched").first)
        XCTAssertTrue(first.contains("outcome=downloaded") && first.contains("entries=2") && first.contains("seconds="), String(first))

        // SIGHUP asks now; nothing changed, so the server answers 304 to the validators sent back.
        let unchanged = try fetchNow(resolver, list: "tp")
        XCTAssertTrue(unchanged.contains("outcome=not_modified"), unchanged)
        XCTAssertEqual(server.requests.count, 2)
        let conditional = server.requests[1]
        XCTAssertTrue(conditional.contains("status=304"), conditional)
        XCTAssertFalse(conditional.contains("if-none-match=[]"), conditional)
        XCTAssertFalse(conditional.contains("if-modified-since=[]"), conditional)
        XCTAssertEqual(try status(resolver, "blocked.example"), "NXDOMAIN")

        // A changed list is downloaded and served.
        try server.write("tp.txt", "blocked.example\nnew.example\n")
        let changed = try fetchNow(resolver, list: "tp")
        XCTAssertTrue(changed.contains("outcome=downloaded"), changed)
        XCTAssertTrue(try eventually { try status(resolver, "new.example") == "NXDOMAIN" }, resolver.server.log)
        XCTAssertEqual(try status(resolver, "second.example"), "NOERROR")
        XCTAssertTrue(server.requests[2].contains("status=200"), server.requests[2])

        let text = try metrics(metricsPort)
        for line in [#"dns_fetches_total{list="tp",result="success"} 2"#,
                     #"dns_fetches_total{list="tp",result="not_modified"} 1"#,
                     #"dns_fetch_copy_present{list="tp"} 1"#, #"dns_fetch_entries{list="tp"} 2"#,
                     #"dns_fetch_last_attempt_success{list="tp"} 1"#, #"dns_fetch_bytes{list="tp"} 28"#] {
            XCTAssertTrue(text.contains(line), "\(line) not in\n\(text)")
        }
        XCTAssertTrue(text.contains(#"dns_fetch_last_success_timestamp_seconds{list="tp"}"#), text)
        // `check` names the download and the copy's state.
        let check = try TestTools.run(try TestTools.binary(), ["check", "--config", resolver.configURL.path])
        XCTAssertTrue(check.output.contains("fetch: \(server.url("tp.txt")) every 3600 s"), check.output)
        XCTAssertTrue(check.output.contains("copy: tp.txt with 2 entries"), check.output)

        // A restart serves the copy at once and still asks conditionally (the validators in tp.txt.meta).
        resolver.server.stop()
        let restarted = try startResolver(lists: [Self.list("tp", url: server.url("tp.txt"), ca: server.caPath)])
        XCTAssertEqual(try status(restarted, "new.example"), "NXDOMAIN", restarted.server.log)
        XCTAssertTrue(eventually { !lines(restarted.server.log, "list fetched").isEmpty }, restarted.server.log)
        XCTAssertTrue(lines(restarted.server.log, "list fetched").first?.contains("outcome=not_modified") == true,
                      restarted.server.log)
        XCTAssertEqual(server.requests.count, 4)
        XCTAssertTrue(server.requests[3].contains("status=304"), server.requests[3])
    }

    func testRedirectsAreFollowedButNeverToPlainHTTP() throws {
        let server = try ListServer(folder: folder)
        try server.write("moved.txt.redirect", "/tp.txt")
        try server.write("tp.txt", "blocked.example\n")
        try server.start()
        let plain = try ListServer(folder: folder, plain: true)
        try plain.write("tp.txt", "blocked.example\nsecond.example\n")
        try plain.start()
        let resolver = try startResolver(lists: [Self.list("tp", url: server.url("moved.txt"), ca: server.caPath)])
        XCTAssertTrue(try eventually { try status(resolver, "blocked.example") == "NXDOMAIN" }, resolver.server.log)
        XCTAssertEqual(server.requests.map { $0.contains("status=302") }, [true, false], server.requests.joined(separator: "\n"))
        XCTAssertTrue(server.requests[1].contains("path=/tp.txt status=200"), server.requests[1])

        // An https address redirected to plain http is refused: the list stays as it was.
        try server.write("moved.txt.redirect", plain.url("tp.txt"))
        let refused = try fetchNow(resolver, list: "tp")
        XCTAssertTrue(refused.contains("list download failed") && refused.contains("which is not https"), refused)
        XCTAssertEqual(try status(resolver, "second.example"), "NOERROR")
        XCTAssertEqual(try status(resolver, "blocked.example"), "NXDOMAIN")
    }

    func testBrokenDownloadsKeepTheLastGoodList() throws {
        let server = try ListServer(folder: folder)
        try server.write("tp.txt", "blocked.example\nsecond.example\n")
        try server.start()
        let metricsPort = try TestTools.freePort()
        let resolver = try startResolver(lists: [Self.list("tp", url: server.url("tp.txt"), ca: server.caPath,
                                                           extra: ", max_bytes: 4000")], metricsPort: metricsPort)
        XCTAssertTrue(try eventually { try status(resolver, "blocked.example") == "NXDOMAIN" }, resolver.server.log)
        let copyURL = folder.appendingPathComponent("tp.txt")
        let goodCopy = try Data(contentsOf: copyURL)
        var failures = 0
        func expectKept(_ what: String, _ reason: String) throws {
            let line = try fetchNow(resolver, list: "tp")
            XCTAssertTrue(line.contains("list download failed; still serving the last good copy"), "\(what): \(line)")
            XCTAssertTrue(line.contains(reason), "\(what): \(line)")
            XCTAssertEqual(try status(resolver, "blocked.example"), "NXDOMAIN", what)
            XCTAssertEqual(try status(resolver, "second.example"), "NXDOMAIN", what)
            XCTAssertEqual(try status(resolver, "new.example"), "NOERROR", what)
            XCTAssertEqual(try Data(contentsOf: copyURL), goodCopy, "\(what): the copy was replaced")
            XCTAssertFalse(FileManager.default.fileExists(atPath: copyURL.path + ".tmp"), what)
            failures += 1
        }
        // Cut in the middle: Content-Length promises more than is sent before the close.
        try server.write("tp.txt", "new.example\n" + (1...40).map { "name\($0).example\n" }.joined())
        try server.write("tp.txt.cut", "")
        try expectKept("a cut download", "outcome=failure")
        XCTAssertTrue(server.requests.last?.contains("status=200") == true, server.requests.joined(separator: "\n"))
        server.remove("tp.txt.cut")
        // Junk (an error page served with 200), then an emptied list.
        try server.write("tp.txt", "<html><body>\n<h1>Service unavailable</h1>\n</body></html>\n")
        try expectKept("an HTML page", "not fit to serve")
        try server.write("tp.txt", "")
        try expectKept("an empty download", "no entries")
        // A server error, and a body past max_bytes (cut off, not read to its end).
        try server.write("tp.txt.status", "503\n")
        try expectKept("HTTP 503", "HTTP 503")
        server.remove("tp.txt.status")
        try server.write("tp.txt", (1...400).map { "name\($0).example\n" }.joined())
        try expectKept("too large", "outcome=too_large")

        // Fixed: taken at the next download.
        try server.write("tp.txt", "blocked.example\nnew.example\n")
        let fixed = try fetchNow(resolver, list: "tp")
        XCTAssertTrue(fixed.contains("outcome=downloaded"), fixed)
        XCTAssertTrue(try eventually { try status(resolver, "new.example") == "NXDOMAIN" }, resolver.server.log)
        let text = try metrics(metricsPort)
        for line in [#"dns_fetches_total{list="tp",result="failure"} 2"#,
                     #"dns_fetches_total{list="tp",result="rejected"} 2"#,
                     #"dns_fetches_total{list="tp",result="too_large"} 1"#,
                     #"dns_fetches_total{list="tp",result="success"} 2"#] {
            XCTAssertTrue(text.contains(line), "\(line) not in\n\(text)")
        }
        XCTAssertEqual(failures, 5)
    }

    func testServerDownAtStartServesTheCopyAndRetries() throws {
        let server = try ListServer(folder: folder)  // not started yet: nothing listens on its port
        try server.write("tp.txt", "blocked.example\nlate.example\n")
        let metricsPort = try TestTools.freePort()
        let resolver = try startResolver(lists: [Self.list("tp", url: server.url("tp.txt"), ca: server.caPath),
                                                 Self.list("none", url: server.url("none.txt"), ca: server.caPath)],
                                         files: ["tp.txt": "blocked.example\n"], metricsPort: metricsPort)
        // The copy is served at once; the list without one is served empty, and said to be.
        XCTAssertEqual(try status(resolver, "blocked.example"), "NXDOMAIN", resolver.server.log)
        XCTAssertTrue(try eventually {
            lines(resolver.server.log, "list download failed; still serving the last good copy").contains { $0.contains("list=tp") }
        }, resolver.server.log)
        XCTAssertTrue(try eventually {
            lines(resolver.server.log, "the list has no copy and is served EMPTY").contains { $0.contains("list=none") }
        }, resolver.server.log)
        XCTAssertTrue(lines(resolver.server.log, "no copy yet").contains { $0.contains("list=none") }, resolver.server.log)
        XCTAssertEqual(try status(resolver, "blocked.example"), "NXDOMAIN")
        XCTAssertEqual(try status(resolver, "late.example"), "NOERROR")
        let text = try metrics(metricsPort)
        for line in [#"dns_fetch_copy_present{list="none"} 0"#, #"dns_fetch_copy_present{list="tp"} 1"#,
                     #"dns_fetch_last_attempt_success{list="tp"} 0"#] {
            XCTAssertTrue(text.contains(line), "\(line) not in\n\(text)")
        }
        let check = try TestTools.run(try TestTools.binary(), ["check", "--config", resolver.configURL.path])
        XCTAssertTrue(check.output.contains("copy: MISSING (none.txt)"), check.output)
        XCTAssertTrue(check.output.contains("copy: tp.txt with 1 entries"), check.output)

        // The server comes up: the retry (backoff, no SIGHUP) brings the list.
        try server.start()
        XCTAssertTrue(try eventually(seconds: 40) { try status(resolver, "late.example") == "NXDOMAIN" }, resolver.server.log)
        XCTAssertTrue(lines(resolver.server.log, "next download of the list").contains { $0.contains("retry_s=5") },
                      resolver.server.log)
    }

    func testGzipEncodedDownload() throws {
        let server = try ListServer(folder: folder)
        let names = "zipped.example\nblocked.example\n" + (1...200).map { "filler\($0).example\n" }.joined()
        try server.write("tp.txt", names)
        try server.write("tp.txt.gzip", "")
        try server.start()
        let resolver = try startResolver(lists: [Self.list("tp", url: server.url("tp.txt"), ca: server.caPath)])
        XCTAssertTrue(try eventually { try status(resolver, "zipped.example") == "NXDOMAIN" }, resolver.server.log)
        let request = try XCTUnwrap(server.requests.first)
        XCTAssertTrue(request.contains("accept-encoding=[gzip]"), request)
        let sentBytes = Int(request.split(separator: " ").last { $0.hasPrefix("bytes=") }?.dropFirst(6) ?? "") ?? 0
        XCTAssertLessThan(sentBytes, names.utf8.count / 2, "not compressed: \(request)")
        // The copy is the decoded list.
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("tp.txt"), encoding: .utf8), names)
        let fetched = try XCTUnwrap(lines(resolver.server.log, "list fetched").first)
        XCTAssertTrue(fetched.contains("bytes=\(names.utf8.count)") && fetched.contains("entries=202"), String(fetched))
    }
}

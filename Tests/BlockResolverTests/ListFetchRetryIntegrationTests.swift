import Foundation
import XCTest

/// Downloads that fail are retried on their own, with a backoff, while the last good copy
/// serves: a server error, then a server that stops sending in the middle (`timeout_s`). And
/// certificates that do not prove the server are refused, with the list's `ca` and with the
/// system's store, before a request is sent. A real HTTPS server (`ListServer`), the built binary.
final class ListFetchRetryIntegrationTests: ListFetchTestCase {
    func testAServerErrorAndATimeoutAreRetriedUntilTheListComes() throws {
        let server = try ListServer(folder: folder)
        try server.write("tp.txt", "blocked.example\nlate.example\n" + (1...2000).map { "filler\($0).example\n" }.joined())
        try server.write("tp.txt.status", "500\n")
        try server.start()
        let resolver = try startResolver(lists: [Self.list("tp", url: server.url("tp.txt"), ca: server.caPath,
                                                           extra: ", timeout_s: 1")],
                                         files: ["tp.txt": "blocked.example\n"])
        let copyURL = folder.appendingPathComponent("tp.txt")
        func failures() -> [String] {
            lines(resolver.server.log, "list download failed; still serving the last good copy")
                .filter { $0.contains("list=tp") }.map(String.init)
        }
        func retries() -> [String] {
            lines(resolver.server.log, "next download of the list").filter { $0.contains("list=tp") }.map(String.init)
        }

        // The first download gets a 500; the copy serves, and a retry is due in 5 s.
        XCTAssertTrue(eventually { failures().count == 1 && retries().count == 1 }, resolver.server.log)
        XCTAssertTrue(failures()[0].contains("HTTP 500"), failures()[0])
        XCTAssertTrue(retries()[0].contains("retry_s=5"), retries()[0])
        XCTAssertEqual(try status(resolver, "blocked.example"), "NXDOMAIN")
        XCTAssertEqual(try status(resolver, "late.example"), "NOERROR")

        // The retry, with no SIGHUP, meets a server that sends half the body and goes silent:
        // cut off at timeout_s, the copy untouched, the next retry twice as far.
        try server.write("tp.txt.stall", "120\n")
        server.remove("tp.txt.status")
        XCTAssertTrue(eventually { failures().count == 2 && retries().count == 2 }, resolver.server.log)
        XCTAssertTrue(failures()[1].contains("deadline"), failures()[1])
        XCTAssertTrue(retries()[1].contains("retry_s=10"), retries()[1])
        XCTAssertEqual(server.requests.count, 2, server.requests.joined(separator: "\n"))
        XCTAssertTrue(server.requests[1].contains("status=200"), server.requests[1])
        XCTAssertEqual(try String(contentsOf: copyURL, encoding: .utf8), "blocked.example\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: copyURL.path + ".tmp"))
        XCTAssertEqual(try status(resolver, "late.example"), "NOERROR")

        // The server recovers: the next retry brings the list.
        server.remove("tp.txt.stall")
        XCTAssertTrue(try eventually(seconds: 40) { try status(resolver, "late.example") == "NXDOMAIN" }, resolver.server.log)
        XCTAssertTrue(lines(resolver.server.log, "list fetched").contains { $0.contains("list=tp") && $0.contains("entries=2002") },
                      resolver.server.log)
        XCTAssertEqual(server.requests.count, 3, server.requests.joined(separator: "\n"))
    }

    func testCertificatesThatDoNotProveTheServerAreRefused() throws {
        let names = "blocked.example\nnew.example\n"
        let server = try ListServer(folder: folder)
        try server.write("tp.txt", names)
        try server.start()
        let otherCA = try TestCertificates(folder: folder, name: "other")
        let unnamed = try ListServer(folder: folder, namesItsAddress: false)
        try unnamed.write("tp.txt", names)
        try unnamed.start()
        let copies = ["other", "system", "unnamed"]
        let resolver = try startResolver(lists: [
            // Signed by the test CA, checked against another one.
            Self.list("other", url: server.url("tp.txt"), ca: otherCA.caPath),
            // No `ca`: the system's store, which does not hold the test CA.
            Self.list("system", url: server.url("tp.txt"), ca: nil),
            // The right CA, but the certificate names lists.example, not the 127.0.0.1 asked.
            Self.list("unnamed", url: unnamed.url("tp.txt"), ca: unnamed.caPath),
            // The control: the right CA and name; its headers are sent.
            Self.list("good", url: server.url("tp.txt"), ca: server.caPath,
                      extra: #", headers: { Authorization: "Bearer s3cret" }"#),
        ], files: Dictionary(uniqueKeysWithValues: copies.map { ("\($0).txt", "blocked.example\n") }))

        func ended(_ list: String) -> String? {
            resolver.server.log.split(separator: "\n").first {
                $0.contains("list=\(list)") && ($0.contains("list fetched") || $0.contains("list download failed"))
            }.map(String.init)
        }
        // The client retries a refused handshake until its 10 s connect timeout; one list at a time.
        XCTAssertTrue(eventually(seconds: 90) { (copies + ["good"]).allSatisfy { ended($0) != nil } }, resolver.server.log)
        let reasons = [
            "other": "is not signed by the CA of `ca` (\(otherCA.caPath))",
            "system": "is not signed by a CA of the system's store",
            "unnamed": "does not name 127.0.0.1",
        ]
        for list in copies {
            let line = try XCTUnwrap(ended(list))
            XCTAssertTrue(line.contains("list download failed; still serving the last good copy"), line)
            XCTAssertTrue(line.contains("TLS: the server's certificate " + reasons[list]!), line)
            XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("\(list).txt"), encoding: .utf8),
                           "blocked.example\n", list)
        }
        XCTAssertTrue(try XCTUnwrap(ended("good")).contains("outcome=downloaded"), resolver.server.log)
        // Refused in the handshake: no request reached either server but the control's.
        XCTAssertEqual(unnamed.requests, [])
        XCTAssertEqual(server.requests.count, 1, server.requests.joined(separator: "\n"))
        XCTAssertTrue(server.requests[0].contains("authorization=[Bearer s3cret]"), server.requests[0])
    }
}

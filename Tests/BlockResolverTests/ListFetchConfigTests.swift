import Foundation
import XCTest
@testable import BlockResolver
@testable import ResolverConfig

/// The `fetch` section of a list: what is accepted and every mistake named with its key.
final class ListFetchConfigTests: XCTestCase {
    let loader = ConfigLoader(resolvConfPath: "/nonexistent/resolv.conf", coreCount: 2)
    var folder: URL!

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
        try "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
            .write(to: folder.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
        try "# the token\nAuthorization: Bearer from-file\n\nX-Fleet: jakarta-1\n"
            .write(to: folder.appendingPathComponent("headers.txt"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func parse(_ yaml: String) throws -> ResolverSettings {
        let path = folder.appendingPathComponent("config.yml").path
        return try loader.parse(yaml: yaml, path: path, displayName: "config.yml")
    }

    func error(_ yaml: String) -> String {
        do {
            _ = try parse(yaml)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testFullFetchSection() throws {
        let settings = try parse("""
            upstreams: ["127.0.0.1:5300"]
            lists:
              - name: trustpositif
                format: hosts
                path: lists/trustpositif.txt
                fetch:
                  url: "https://lists.example/domains"
                  refresh_s: 600
                  timeout_s: 30
                  max_bytes: 1048576
                  ca: ca.crt
                  headers: { X-Api-Key: "k1" }
                  headers_file: headers.txt
            """)
        let fetch = try XCTUnwrap(settings.lists[0].fetch)
        XCTAssertEqual(fetch.url, "https://lists.example/domains")
        XCTAssertEqual(fetch.refreshSeconds, 600)
        XCTAssertEqual(fetch.timeoutSeconds, 30)
        XCTAssertEqual(fetch.maxBytes, 1_048_576)
        XCTAssertEqual(fetch.caPath, folder.appendingPathComponent("ca.crt").path)
        XCTAssertEqual(fetch.headers, [.init(name: "X-Api-Key", value: "k1"),
                                       .init(name: "Authorization", value: "Bearer from-file"),
                                       .init(name: "X-Fleet", value: "jakarta-1")])
        XCTAssertEqual(settings.lists[0].format, .hosts)
        XCTAssertEqual(settings.lists[0].path, folder.appendingPathComponent("lists/trustpositif.txt").path)
        XCTAssertNil(settings.lists[0].transfer)
    }

    func testDefaultsAndLoopbackHTTP() throws {
        let settings = try parse("""
            upstreams: ["127.0.0.1:5300"]
            lists:
              - { name: a, path: a.txt, fetch: { url: "https://lists.example/a" } }
              - { name: b, path: b.rpz, format: rpz, fetch: { url: "http://127.0.0.1:8080/b.rpz" } }
              - { name: c, path: c.txt, fetch: { url: "http://[::1]/c" } }
            """)
        XCTAssertEqual(settings.lists[0].fetch, ListFetchSettings(url: "https://lists.example/a"))
        XCTAssertEqual(settings.lists[0].fetch?.refreshSeconds, 3600)
        XCTAssertEqual(settings.lists[0].fetch?.timeoutSeconds, 120)
        XCTAssertEqual(settings.lists[0].fetch?.maxBytes, 1 << 30)
        XCTAssertEqual(settings.lists[1].fetch?.url, "http://127.0.0.1:8080/b.rpz")
        XCTAssertEqual(settings.lists[2].fetch?.url, "http://[::1]/c")
        XCTAssertNil(try parse("upstreams: [\"127.0.0.1:5300\"]\nlists: [{ name: a, path: a.txt }]").lists[0].fetch)
    }

    func testFetchMistakesNameTheKey() {
        func list(_ fetch: String) -> String {
            "upstreams: [\"127.0.0.1:5300\"]\nlists:\n  - { name: z, path: z.txt, fetch: \(fetch) }"
        }
        let url = #"url: "https://lists.example/z""#
        let cases: [(String, String)] = [
            (list("{ refresh_s: 600 }"), "lists[0].fetch.url: missing"),
            (list(#"{ url: "ftp://lists.example/z" }"#), "the scheme must be https"),
            (list(#"{ url: "http://lists.example/z" }"#), "plain http is refused"),
            (list(#"{ url: "not a url" }"#), "lists[0].fetch.url"),
            (list(#"{ url: "https://user:pw@lists.example/z" }"#), "credentials in the address"),
            (list("{ \(url), refresh_s: 59 }"), "lists[0].fetch.refresh_s"),
            (list("{ \(url), timeout_s: 0 }"), "lists[0].fetch.timeout_s"),
            (list("{ \(url), max_bytes: 0 }"), "lists[0].fetch.max_bytes"),
            (list("{ \(url), ca: missing.crt }"), "lists[0].fetch.ca: cannot read missing.crt"),
            (list("{ \(url), headers: { \"Bad Name\": x } }"), "is not a header name"),
            (list("{ \(url), headers: { If-None-Match: x } }"), "set by the resolver itself"),
            (list("{ \(url), headers_file: nope.txt }"), "lists[0].fetch.headers_file: cannot read nope.txt"),
            (list("{ \(url), interval: 5 }"), "lists[0].fetch.interval: unknown key"),
            ("upstreams: [\"127.0.0.1:5300\"]\nlists:\n  - { name: z, fetch: { \(url) } }",
             "lists[0].path: missing; a downloaded list needs a file for its last good copy"),
            ("upstreams: [\"127.0.0.1:5300\"]\nlists:\n  - { name: z, format: rpz, path: z.rpz, fetch: { \(url) }, "
                + "transfer: { primaries: [\"127.0.0.1\"], zone: rpz.example } }",
             "by zone transfer or by download, not both"),
        ]
        for (yaml, expected) in cases {
            let message = error(yaml)
            XCTAssertTrue(message.contains(expected), "\(yaml)\n→ \(message)")
        }
    }

    /// Retries after failures in a row: 5 s doubling, never past refresh_s nor 15 minutes.
    func testRetryBackoff() {
        let hourly = ListFetchSettings(url: "https://lists.example/a")
        XCTAssertEqual((1...6).map { ListFetchService.retryDelay(failures: $0, hourly) }, [5, 10, 20, 40, 80, 160])
        XCTAssertEqual(ListFetchService.retryDelay(failures: 9, hourly), 900)
        XCTAssertEqual(ListFetchService.retryDelay(failures: 1000, hourly), 900)
        let everyMinute = ListFetchSettings(url: "https://lists.example/a", refreshSeconds: 60)
        XCTAssertEqual(ListFetchService.retryDelay(failures: 5, everyMinute), 60)
    }

    func testHeadersFileWithABadLine() throws {
        try "Authorization Bearer x\n".write(to: folder.appendingPathComponent("bad.txt"), atomically: true, encoding: .utf8)
        let message = error("upstreams: [\"127.0.0.1:5300\"]\nlists:\n  - { name: z, path: z.txt, "
                            + "fetch: { url: \"https://lists.example/z\", headers_file: bad.txt } }")
        XCTAssertTrue(message.contains("bad.txt:1: not a `Name: value` line"), message)
    }
}

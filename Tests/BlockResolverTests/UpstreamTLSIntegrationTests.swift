import Foundation
import XCTest

/// Upstreams over TLS (RFC 7858): unbound with `tls-service-key` as the upstream, its
/// certificate made by openssl for the test.
final class UpstreamTLSIntegrationTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func tlsUpstream(_ port: Int, name: String?, ca: String) -> String {
        let named = name.map { "name: \($0), " } ?? ""
        return "{ address: \"127.0.0.1:\(port)\", tls: { \(named)ca: \"\(ca)\" } }"
    }

    /// Answers come over one kept connection per loop, and after the upstream restarts a new
    /// connection is made.
    func testForwardsOverOneKeptConnectionAndReconnects() throws {
        let certificates = try TestCertificates(folder: folder)
        let files = try certificates.issue("upstream", loopbackAddress: false)
        var unbound: UnboundTLSUpstream? = try UnboundTLSUpstream(folder: folder, certificate: files.certificate,
                                                                  key: files.key)
        let port = try XCTUnwrap(unbound?.port)
        let server = try ResolverUnderTest(
            folder: folder, files: ["b.txt": "blocked.example\n"], lists: [#"{ name: bad, path: b.txt }"#],
            upstreamPorts: [], timeoutMilliseconds: 2000,
            upstreams: [tlsUpstream(port, name: "resolver.example", ca: certificates.caPath)], threads: 1)
        let names = ["www", "two", "three", "four"].map { "\($0).upstream.example" }
        for (index, name) in names.enumerated() {
            let answer = try server.dig.query(name)
            XCTAssertEqual(answer.answerData, ["192.0.2.\(77 + index)"], answer.output + server.server.log)
        }
        XCTAssertEqual(try server.dig.query("www.upstream.example", "A", ["+tcp"]).answerData, ["192.0.2.77"])
        // Queries at the same time share the connection (pipelined, each with its own ID).
        let dig = server.dig
        let statuses = Statuses()
        let askers = (0..<8).map { index in
            Thread { statuses.add((try? dig.query("p\(index).upstream.example").status) ?? nil) }
        }
        askers.forEach { $0.start() }
        XCTAssertTrue(TestTools.waitUntil { askers.allSatisfy(\.isFinished) })
        XCTAssertEqual(statuses.all, Array(repeating: "NXDOMAIN", count: 8))
        // One loop, one connection, reused by every query.
        XCTAssertEqual(unbound?.establishedConnections(), 1,
                       UnboundTLSUpstream.procNetTCP())

        unbound = nil  // stopped: the kept connection is gone
        unbound = try UnboundTLSUpstream(folder: folder, certificate: files.certificate, key: files.key, port: port)
        // The first query may meet the dead connection and fail over to nothing (SERVFAIL); the
        // connection is made again for the next.
        var answer = try server.dig.query("after.upstream.example")
        if answer.status == "SERVFAIL" { answer = try server.dig.query("after.upstream.example") }
        XCTAssertEqual(answer.answerData, ["192.0.2.81"], answer.output + server.server.log)
        XCTAssertEqual(try server.dig.query("blocked.example").answerData, ["0.0.0.0"])
    }

    /// A certificate whose name is not the configured one is refused: no answer from that
    /// upstream (SERVFAIL, or the next upstream's answer), and the log names the failure.
    func testCertificateWithAnotherNameIsRefused() throws {
        let certificates = try TestCertificates(folder: folder)
        let files = try certificates.issue("upstream", loopbackAddress: false)
        let unbound = try UnboundTLSUpstream(folder: folder, certificate: files.certificate, key: files.key)
        let server = try ResolverUnderTest(
            folder: folder, files: [:], lists: [], upstreamPorts: [], timeoutMilliseconds: 2000,
            upstreams: [tlsUpstream(unbound.port, name: "other.example", ca: certificates.caPath)], threads: 1)
        for _ in 0..<3 {
            let answer = try server.dig.query("www.upstream.example", "A", ["+edns"])
            XCTAssertEqual(answer.status, "SERVFAIL", answer.output)
            XCTAssertTrue(answer.ede?.hasPrefix("22") == true, answer.output)
        }
        XCTAssertTrue(TestTools.waitUntil { server.server.log.contains("upstream marked down") }, server.server.log)
        XCTAssertTrue(server.server.log.lowercased().contains("certificate"), server.server.log)

        // The same upstream checked against a CA that did not issue its certificate: refused too.
        let other = try TestCertificates(folder: folder, name: "other")
        let stranger = try ResolverUnderTest(
            folder: try TestTools.temporaryFolder(), files: [:], lists: [], upstreamPorts: [], timeoutMilliseconds: 2000,
            upstreams: [tlsUpstream(unbound.port, name: "resolver.example", ca: other.caPath)], threads: 1)
        XCTAssertEqual(try stranger.dig.query("www.upstream.example").status, "SERVFAIL")
    }

    /// A refused TLS upstream is skipped for the next, as a silent UDP one is.
    func testFallsBackToTheNextUpstream() throws {
        let certificates = try TestCertificates(folder: folder)
        let files = try certificates.issue("upstream", loopbackAddress: false)
        let unbound = try UnboundTLSUpstream(folder: folder, certificate: files.certificate, key: files.key)
        let plain = try CountingUpstream()
        let server = try ResolverUnderTest(
            folder: folder, files: [:], lists: [], upstreamPorts: [], timeoutMilliseconds: 2000,
            upstreams: [tlsUpstream(unbound.port, name: "wrong.example", ca: certificates.caPath),
                        "\"127.0.0.1:\(plain.port)\""], threads: 1)
        let answer = try server.dig.query("www.upstream.example")
        XCTAssertEqual(answer.answerData, ["192.0.2.53"], answer.output + server.server.log)
        XCTAssertEqual(plain.count(of: "www.upstream.example"), 1)
    }

    /// `tls: { ca }` without a name checks the address itself (the certificate has IP:127.0.0.1).
    func testWithoutANameTheAddressIsChecked() throws {
        let certificates = try TestCertificates(folder: folder)
        let files = try certificates.issue("upstream")
        let unbound = try UnboundTLSUpstream(folder: folder, certificate: files.certificate, key: files.key)
        let server = try ResolverUnderTest(
            folder: folder, files: [:], lists: [], upstreamPorts: [], timeoutMilliseconds: 2000,
            upstreams: [tlsUpstream(unbound.port, name: nil, ca: certificates.caPath)], threads: 1)
        XCTAssertEqual(try server.dig.query("www.upstream.example").answerData, ["192.0.2.77"], server.server.log)
    }

    func testABadCAFileStopsTheStart() throws {
        let config = folder.appendingPathComponent("c.yml")
        try """
            listen: ["127.0.0.1:\(try TestTools.freePort())"]
            upstreams: [{ address: "127.0.0.1:9853", tls: { name: resolver.example, ca: missing-ca.crt } }]
            lists: []

            """.write(to: config, atomically: true, encoding: .utf8)
        let run = try TestTools.run(try TestTools.binary(), ["run", "--config", config.path], seconds: 30)
        XCTAssertEqual(run.status, 1, run.output)
        XCTAssertTrue(run.output.contains("upstream 127.0.0.1:9853: tls.ca"), run.output)
    }
}

/// The statuses dig printed, collected from several threads.
private final class Statuses: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String] = []

    func add(_ status: String?) { lock.withLock { seen.append(status ?? "none") } }
    var all: [String] { lock.withLock { seen } }
}

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `outgoing` (issue 14, point 10) and the upstream socket gauge, through the built binary.
final class OutgoingIntegrationTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// A TCP listener on 127.0.0.1 that accepts one connection, notes the peer's address and
    /// closes it: an upstream that fails, but shows where the resolver connected from.
    final class TCPPeerRecorder: @unchecked Sendable {
        let port: Int
        private let fd: Int32
        private let lock = NSLock()
        private var peer: String?

        init() throws {
            port = try TestTools.freePort()
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var on: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            guard RawDNS.withLoopback(port: port, { bind(fd, $0, $1) == 0 }), listen(fd, 4) == 0 else {
                throw TestTools.Missing(description: "cannot listen for the TCP upstream")
            }
            RawDNS.setTimeout(fd, milliseconds: 5000)
            Thread { [self] in
                var address = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let client = withUnsafeMutablePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &length) }
                }
                guard client >= 0 else { return }
                lock.withLock { peer = CountingUpstream.ipv4Source(address) }
                close(client)
            }.start()
        }

        var source: String? { lock.withLock { peer } }

        deinit { close(fd) }
    }

    /// With `outgoing: ["127.0.0.2"]`, a TCP upstream (tried first, closes at once) sees the
    /// connection come from 127.0.0.2, and so does the UDP upstream the query then moves on to;
    /// without `outgoing` the kernel picks 127.0.0.1. The pool opens its 16 IPv4 sockets and, as
    /// `outgoing` names no IPv6 address, no IPv6 socket (`dns_upstream_sockets`).
    func testOutgoingAddressIsTheSourceOfUDPAndTCPUpstreamQueries() throws {
        let udp = try CountingUpstream()
        let tcp = try TCPPeerRecorder()
        let metricsPort = try TestTools.freePort()
        let server = try ResolverUnderTest(
            folder: folder, files: [:], lists: [], upstreamPorts: [],
            extraConfig: "outgoing: [\"127.0.0.2\"]\nmetrics: { listen: \"127.0.0.1:\(metricsPort)\" }",
            upstreams: ["{ address: \"127.0.0.1:\(tcp.port)\", tcp: true }", "\"127.0.0.1:\(udp.port)\""], threads: 1)
        XCTAssertEqual(try server.dig.query("outgoing.example").answerData, ["192.0.2.53"])
        XCTAssertEqual(tcp.source, "127.0.0.2", "the TCP upstream's peer")
        XCTAssertEqual(udp.queries.map(\.source), ["127.0.0.2"], "the UDP upstream's sender")

        let exposition = try XCTUnwrap(TestTools.httpGet(port: metricsPort, path: "/metrics")?.body)
        let gauges = exposition.split(separator: "\n").filter { $0.hasPrefix("dns_upstream_sockets{") }
        XCTAssertTrue(gauges.contains { $0.contains("\"ipv4\"") && $0.hasSuffix(" 16.0") }, gauges.joined(separator: "\n"))
        XCTAssertTrue(gauges.contains { $0.contains("\"ipv6\"") && $0.hasSuffix(" 0.0") }, gauges.joined(separator: "\n"))
    }

    /// `check` prints the `outgoing` addresses, and refuses an upstream of a family they lack,
    /// naming it.
    func testCheckShowsOutgoingAndNamesAnUpstreamWithoutAnAddressOfItsFamily() throws {
        let config = folder.appendingPathComponent("c.yml").path
        try "upstreams: [\"127.0.0.1:5300\"]\noutgoing: [\"127.0.0.2\"]\nlists: []\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let good = try TestTools.run(try TestTools.binary(), ["check", "--config", config])
        XCTAssertEqual(good.status, 0, good.output)
        XCTAssertTrue(good.output.contains("outgoing: 127.0.0.2"), good.output)
        try "upstreams: [\"127.0.0.1:5300\", \"[::1]:5300\"]\noutgoing: [\"127.0.0.2\"]\nlists: []\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let bad = try TestTools.run(try TestTools.binary(), ["check", "--config", config])
        XCTAssertEqual(bad.status, 1, bad.output)
        XCTAssertTrue(bad.output.contains("[::1]:5300") && bad.output.contains("names no IPv6 address"), bad.output)
    }

    /// Without `outgoing`, the same UDP upstream sees 127.0.0.1, the address the kernel picks for
    /// the loopback route: the test above is not passing by accident.
    func testWithoutOutgoingTheKernelPicksTheSource() throws {
        let udp = try CountingUpstream()
        let server = try ResolverUnderTest(folder: folder, files: [:], lists: [], upstreamPorts: [udp.port], threads: 1)
        XCTAssertEqual(try server.dig.query("wildcard.example").answerData, ["192.0.2.53"])
        XCTAssertEqual(udp.queries.map(\.source), ["127.0.0.1"])
    }
}

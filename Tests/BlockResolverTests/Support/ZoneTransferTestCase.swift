import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What the zone-transfer tests share: a real upstream, the resolver with one RPZ list
/// transferred from a primary the test starts (`PrimaryServer`: BIND 9's named), polling helpers
/// and a raw UDP exchange from a chosen loopback address. No tests of its own.
class ZoneTransferTestCase: XCTestCase {
    var folder: URL!
    var upstream: FakeUpstream!

    static let zone = "rpz.test"
    static let secret = "c2VjcmV0LWtleS1mb3ItYmxvY2stcmVzb2x2ZXItdGVzdHM="
    static let wrongSecret = "YW5vdGhlci1rZXktdGhhdC10aGUtcHJpbWFyeS1kb2VzLW5vdC1rbm93"

    static let upstreamData = ["blocked", "new", "later", "allowed", "deleted"].map { name in
        FakeUpstream.entry("\(name).example.", "A", records: ["\(name).example. 60 IN A 192.0.2.9"])
    }.joined()

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
        upstream = try FakeUpstream(data: Self.upstreamData, folder: folder)
    }

    override func tearDownWithError() throws {
        upstream = nil
        try? FileManager.default.removeItem(at: folder)
    }

    /// The list entry of a zone transferred from `primaryPort`.
    static func list(primaryPort: Int, secret: String? = nil, refresh: Int? = nil) -> String {
        var transfer = #"primaries: ["127.0.0.1:\#(primaryPort)"], zone: \#(zone)"#
        if let secret { transfer += #", tsig: { name: fleet-key, algorithm: hmac-sha256, secret: "\#(secret)" }"# }
        if let refresh { transfer += ", refresh_s: \(refresh)" }
        return #"{ name: trustpositif, format: rpz, path: trustpositif.rpz, category: "TrustPositif", transfer: { \#(transfer) } }"#
    }

    func startResolver(primaryPort: Int, port: Int? = nil, secret: String? = nil, refresh: Int? = nil,
                       extraConfig: String = "") throws -> ResolverUnderTest {
        try ResolverUnderTest(folder: folder, files: [:], lists: [Self.list(primaryPort: primaryPort, secret: secret,
                                                                            refresh: refresh)],
                              upstreamPorts: [upstream.port], extraConfig: extraConfig, port: port)
    }

    /// Polls `name` until its status is `status`, for at most `seconds`; returns the last status.
    @discardableResult
    func waitFor(_ resolver: ResolverUnderTest, _ name: String, _ status: String, seconds: Double = 20) throws -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        var last: String? = nil
        repeat {
            last = try resolver.dig.query(name).status
            if last == status { return last }
            usleep(20_000)
        } while Date() < deadline
        return last
    }

    var copyURL: URL { folder.appendingPathComponent("trustpositif.rpz") }

    func copyHeader() -> String {
        ((try? String(contentsOf: copyURL, encoding: .utf8)) ?? "").split(separator: "\n").first.map(String.init) ?? ""
    }

    func lines(_ log: String, _ text: String) -> [Substring] {
        log.split(separator: "\n").filter { $0.contains(text) }
    }

    /// One UDP exchange with the resolver from a socket bound to `source` (a loopback address).
    static func udpExchange(_ message: [UInt8], from source: String, port: Int) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return nil }
        RawDNS.setTimeout(fd, milliseconds: 2000)
        let sent = RawDNS.withLoopback(port: port) { sendto(fd, message, message.count, 0, $0, $1) }
        guard sent == message.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let got = recv(fd, &buffer, buffer.count, 0)
        return got > 0 ? Array(buffer[0..<got]) : nil
    }
}

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What the download tests share: a real upstream, the resolver with downloaded lists, and
/// polling helpers (no test waits on a clock: each polls for a condition with a bounded deadline).
/// No tests of its own.
class ListFetchTestCase: XCTestCase {
    var folder: URL!
    var upstream: FakeUpstream!

    static let upstreamData = ["blocked", "second", "third", "new", "late", "zipped"].map { name in
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

    /// A downloaded domains list named `name`, its copy at `name.txt`, answered NXDOMAIN.
    static func list(_ name: String, url: String, ca: String?, extra: String = "") -> String {
        let caPart = ca.map { #", ca: "\#($0)""# } ?? ""
        return #"{ name: \#(name), path: \#(name).txt, response: nxdomain, fetch: { url: "\#(url)"\#(caPart)\#(extra) } }"#
    }

    func startResolver(lists: [String], files: [String: String] = [:], metricsPort: Int? = nil) throws -> ResolverUnderTest {
        try ResolverUnderTest(folder: folder, files: files, lists: lists, upstreamPorts: [upstream.port],
                              extraConfig: metricsPort.map { "metrics: { listen: \"127.0.0.1:\($0)\" }" } ?? "")
    }

    /// Polls until `condition` holds, for at most `seconds`.
    func eventually(seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            usleep(50_000)
        } while Date() < deadline
        return try condition()
    }

    func status(_ resolver: ResolverUnderTest, _ name: String) throws -> String? {
        try resolver.dig.query(name).status
    }

    func lines(_ log: String, _ text: String) -> [Substring] {
        log.split(separator: "\n").filter { $0.contains(text) }
    }

    /// Sends SIGHUP and waits for the download it starts to be logged by the resolver as done
    /// (fetched or failed); returns that line.
    @discardableResult
    func fetchNow(_ resolver: ResolverUnderTest, list: String) throws -> String {
        func ends() -> [Substring] {
            resolver.server.log.split(separator: "\n").filter {
                $0.contains("list=\(list)") && ($0.contains("list fetched") || $0.contains("list download failed"))
            }
        }
        let before = ends().count
        resolver.server.signal(SIGHUP)
        guard eventually({ ends().count > before }) else {
            throw TestTools.Missing(description: "no download of \(list) logged after SIGHUP:\n\(resolver.server.log)")
        }
        return String(ends()[before])
    }

    func metrics(_ port: Int) throws -> String {
        try XCTUnwrap(try TestTools.httpGet(port: port, path: "/metrics")).body
    }

}

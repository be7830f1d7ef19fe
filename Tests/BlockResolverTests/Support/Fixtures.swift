import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real upstream for the tests: `ldns-testns` serving scripted answers from a data file.
final class FakeUpstream {
    let port: Int
    let server: ServerProcess

    /// Starts ldns-testns on a free loopback port with the entries in `data` (its data-file format).
    init(data: String, folder: URL) throws {
        let testns = try TestTools.path(of: "ldns-testns", package: "ldnsutils")
        port = try TestTools.freePort()
        let file = folder.appendingPathComponent("upstream-\(port).data")
        try data.write(to: file, atomically: true, encoding: .utf8)
        server = try ServerProcess(executable: testns, arguments: ["-p", "\(port)", file.path],
                                   logURL: folder.appendingPathComponent("upstream-\(port).log"))
        let server = self.server
        guard TestTools.waitUntil({ server.log.contains("Listening on port") || !server.isRunning }),
              server.isRunning
        else {
            throw TestTools.Missing(description: "ldns-testns did not start:\n\(server.log)")
        }
    }

    deinit { server.stop() }

    /// One ldns-testns entry answering `name` `type` with `records` (zone-file lines).
    static func entry(_ name: String, _ type: String, rcode: String = "NOERROR", flags: String = "QR RD RA",
                      match: String = "opcode qtype qname", records: [String] = []) -> String {
        """
        ENTRY_BEGIN
        MATCH \(match)
        ADJUST copy_id
        REPLY \(flags) \(rcode)
        SECTION QUESTION
        \(name) IN \(type)
        SECTION ANSWER
        \(records.joined(separator: "\n"))
        ENTRY_END

        """
    }
}

/// A UDP socket on a free loopback port that never answers: an upstream that has gone silent.
final class SilentUpstream {
    let fd: Int32
    let port: Int

    init() throws {
        port = try TestTools.freePort()
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = RawDNS.withLoopback(port: port) { bind(fd, $0, $1) == 0 }
        if !bound { throw TestTools.Missing(description: "cannot bind the silent upstream") }
    }

    deinit { close(fd) }
}

/// block-resolver started from the built binary with a config written for one test.
final class ResolverUnderTest {
    let folder: URL
    let port: Int
    let server: ServerProcess
    var dig: Dig { Dig(server: "127.0.0.1", port: port) }
    var configURL: URL { folder.appendingPathComponent("block-resolver.yml") }

    /// Writes `files` (name → contents) and a config with `lists` (YAML list items) and the
    /// upstream ports, starts the server, and waits until it serves.
    init(folder: URL, files: [String: String], lists: [String], upstreamPorts: [Int], timeoutMilliseconds: Int = 600,
         extraConfig: String = "", listenIPv6: Bool = false, upstreams: [String]? = nil, threads: Int = 2,
         port chosen: Int? = nil) throws {
        self.folder = folder
        port = try chosen ?? TestTools.freePort()
        for (name, contents) in files {
            try contents.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        var listen = "\"127.0.0.1:\(port)\""
        if listenIPv6 { listen += ", \"[::1]:\(port)\"" }
        let config = """
            listen: [\(listen)]
            upstreams: [\((upstreams ?? upstreamPorts.map { "\"127.0.0.1:\($0)\"" }).joined(separator: ", "))]
            timeout_ms: \(timeoutMilliseconds)
            threads: \(threads)
            \(extraConfig)
            lists:
            \(lists.map { "  - " + $0 }.joined(separator: "\n"))

            """
        try config.write(to: folder.appendingPathComponent("block-resolver.yml"), atomically: true, encoding: .utf8)
        server = try ServerProcess(executable: try TestTools.binary(),
                                   arguments: ["run", "--config", folder.appendingPathComponent("block-resolver.yml").path],
                                   logURL: folder.appendingPathComponent("block-resolver-\(port).log"))
        let server = self.server
        // Generous: on a loaded 2-core machine a debug build can take seconds to start.
        guard TestTools.waitUntil(attempts: 1200, { server.log.contains("serving") || !server.isRunning }),
              server.isRunning else {
            throw TestTools.Missing(description: "block-resolver did not start:\n\(server.log)")
        }
    }

    deinit { server.stop() }

    func write(_ name: String, _ contents: String) throws {
        try contents.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// Sends SIGHUP and waits until the log reports the reload's result; returns that log line.
    @discardableResult
    func reload() throws -> String {
        func results() -> [Substring] {
            server.log.split(separator: "\n").filter { $0.contains("reloaded policy") || $0.contains("reload failed") }
        }
        let before = results().count
        server.signal(SIGHUP)
        guard TestTools.waitUntil({ results().count > before }) else {
            throw TestTools.Missing(description: "no reload result logged:\n\(server.log)")
        }
        return String(results()[before])
    }
}

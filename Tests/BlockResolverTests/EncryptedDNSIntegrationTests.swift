import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// DNS over TLS (RFC 7858) and DNS over HTTPS (RFC 8484) through the built binary, with a CA and
/// certificate made by openssl for the test and real clients: kdig, dig and curl.
final class EncryptedDNSIntegrationTests: XCTestCase {
    var folder: URL!
    var running: ResolverUnderTest?

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
    }

    override func tearDownWithError() throws {
        running = nil
        try? FileManager.default.removeItem(at: folder)
    }

    /// A resolver with a blocked list (category "Bad") serving UDP/TCP, DoT and DoH.
    func resolver(_ upstream: CountingUpstream, certificates: TestCertificates, extra: String = "")
        throws -> (ResolverUnderTest, EncryptedListeners) {
        let files = try certificates.issue("server")
        let listeners = try EncryptedListeners(certificate: files.certificate, key: files.key)
        let server = try ResolverUnderTest(
            folder: folder, files: ["b.txt": "blocked.example\n"], lists: [#"{ name: bad, path: b.txt, category: "Bad" }"#],
            upstreamPorts: [upstream.port], extraConfig: listeners.config + "\n" + extra)
        running = server  // kept until the test ends, also where the caller ignores it
        return (server, listeners)
    }

    func testDoTWithKdigAndDig() throws {
        let upstream = try CountingUpstream()
        let certificates = try TestCertificates(folder: folder)
        let (server, listeners) = try resolver(upstream, certificates: certificates)
        let clients = EncryptedClients(ca: certificates.caPath)

        let blocked = try clients.kdig("+tls", port: listeners.dotPort, "blocked.example")
        XCTAssertEqual(blocked.status, 0, blocked.output)
        XCTAssertTrue(blocked.output.contains("TLS session (TLS1.3)"), blocked.output)
        XCTAssertTrue(blocked.output.range(of: #"blocked\.example\.\s+300\s+IN\s+A\s+0\.0\.0\.0"#,
                                           options: .regularExpression) != nil, blocked.output)
        XCTAssertTrue(blocked.output.contains("EDE: 16 (Censored): 'Bad'"), blocked.output)
        let forwarded = try clients.kdig("+tls", port: listeners.dotPort, "fresh.example")
        XCTAssertTrue(forwarded.output.contains("192.0.2.53"), forwarded.output)
        XCTAssertEqual(upstream.count(of: "fresh.example"), 1)

        let dig = try clients.dig("+tls", port: listeners.dotPort, "blocked.example")
        XCTAssertEqual(dig.answerData, ["0.0.0.0"], dig.output)
        XCTAssertEqual(dig.ede, "16 (Censored): (Bad)", dig.output)
        let digForwarded = try clients.dig("+tls", port: listeners.dotPort, "other.example")
        XCTAssertEqual(digForwarded.answerData, ["192.0.2.53"], digForwarded.output)

        // A client that does not trust the CA is refused by its own check: the certificate is real.
        let stranger = try EncryptedClients(ca: TestCertificates(folder: folder, name: "other").caPath)
        let refused = try stranger.kdig("+tls", port: listeners.dotPort, "blocked.example")
        XCTAssertNotEqual(refused.status, 0, refused.output)
        // Plain DNS on the same resolver still answers.
        XCTAssertEqual(try server.dig.query("blocked.example").answerData, ["0.0.0.0"])
    }

    func testDoTPipelinesOnOneConnection() throws {
        let upstream = try CountingUpstream(delayMilliseconds: 300)
        let certificates = try TestCertificates(folder: folder)
        let (_, listeners) = try resolver(upstream, certificates: certificates)
        let clients = EncryptedClients(ca: certificates.caPath)
        // kdig sends every question of one command on one TLS connection (+keepopen).
        let run = try clients.kdig("+tls", port: listeners.dotPort, "one.example", "A",
                                   ["+keepopen", "two.example", "A", "blocked.example", "A"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("one.example.") && run.output.contains("two.example."), run.output)
        XCTAssertEqual(run.output.components(separatedBy: "192.0.2.53").count - 1, 2, run.output)
        XCTAssertTrue(run.output.contains("EDE: 16 (Censored)"), run.output)
    }

    func testDoHWithKdigDigAndCurl() throws {
        let upstream = try CountingUpstream(ttl: 120)
        let certificates = try TestCertificates(folder: folder)
        let (_, listeners) = try resolver(upstream, certificates: certificates)
        let clients = EncryptedClients(ca: certificates.caPath)
        let port = listeners.dohPort

        let kdig = try clients.kdig("+https", port: port, "blocked.example")
        XCTAssertEqual(kdig.status, 0, kdig.output)
        XCTAssertTrue(kdig.output.contains("EDE: 16 (Censored): 'Bad'"), kdig.output)
        XCTAssertTrue(kdig.output.contains("0.0.0.0"), kdig.output)
        let kdigForwarded = try clients.kdig("+https", port: port, "kdig.example")
        XCTAssertTrue(kdigForwarded.output.contains("192.0.2.53"), kdigForwarded.output)

        let dig = try clients.dig("+https", port: port, "blocked.example")
        XCTAssertEqual(dig.answerData, ["0.0.0.0"], dig.output)
        XCTAssertEqual(dig.ede, "16 (Censored): (Bad)", dig.output)
        let digGet = try clients.dig("+https-get", port: port, "dig.example")
        XCTAssertEqual(digGet.answerData, ["192.0.2.53"], digGet.output)

        // curl: GET with ?dns= over HTTP/2, POST over HTTP/1.1 and HTTP/2.
        let query = RawDNS.appendingAdditionals([RawDNS.opt()], to: RawDNS.query(id: 0, name: "blocked.example"))
        let get = try clients.curl(port: port, path: "/dns-query?dns=\(EncryptedClients.base64URL(query))",
                                   ["--http2", "-H", "accept: application/dns-message"], folder: folder)
        XCTAssertEqual(get.status, 200, get.output + get.headers)
        XCTAssertTrue(get.headers.hasPrefix("HTTP/2 200"), get.headers)
        XCTAssertTrue(get.headers.lowercased().contains("content-type: application/dns-message"), get.headers)
        XCTAssertTrue(get.headers.lowercased().contains("cache-control: max-age=300"), get.headers)
        let blocked = try ReadMessage(get.body)
        XCTAssertEqual(blocked.answer.count, 1)
        XCTAssertTrue(blocked.answer.first?.hasSuffix("0.0.0.0") == true, "\(blocked.answer)")
        XCTAssertEqual(blocked.ede?.code, 16)
        XCTAssertEqual(blocked.ede?.text, "Bad")

        let forwardedQuery = RawDNS.query(id: 0x4242, name: "posted.example")
        for version in ["--http1.1", "--http2"] {
            let post = try clients.curl(port: port, path: "/dns-query",
                                        [version, "-H", "content-type: application/dns-message",
                                         "--data-binary", "@" + write(forwardedQuery)], folder: folder)
            XCTAssertEqual(post.status, 200, version + post.output + post.headers)
            let answer = try ReadMessage(post.body)
            XCTAssertEqual(RawDNS.id(post.body), 0x4242)
            XCTAssertTrue(answer.answer.first?.hasSuffix("192.0.2.53") == true, "\(answer.answer)")
            // The answer's smallest TTL (the upstream's 120, or less once it is cached).
            let age = post.headers.lowercased().range(of: #"cache-control: max-age=[0-9]+"#, options: .regularExpression)
                .map { Int(post.headers.lowercased()[$0].split(separator: "=")[1]) ?? -1 }
            XCTAssertTrue((100...120).contains(age ?? -1), post.headers)
        }
    }

    func testDoHRefusesWhatIsNotADNSRequest() throws {
        let upstream = try CountingUpstream()
        let certificates = try TestCertificates(folder: folder)
        let (server, listeners) = try resolver(upstream, certificates: certificates)
        let clients = EncryptedClients(ca: certificates.caPath)
        let port = listeners.dohPort
        let query = try write(RawDNS.query(id: 1, name: "blocked.example"))

        let wrongType = try clients.curl(port: port, path: "/dns-query",
                                         ["-H", "content-type: text/plain", "--data-binary", "@" + query], folder: folder)
        XCTAssertEqual(wrongType.status, 415, wrongType.output)
        let noType = try clients.curl(port: port, path: "/dns-query", ["--data-binary", "@" + query], folder: folder)
        XCTAssertEqual(noType.status, 415, noType.output)
        let badBase64 = try clients.curl(port: port, path: "/dns-query?dns=not*base64", [], folder: folder)
        XCTAssertEqual(badBase64.status, 400, badBase64.output)
        let noParameter = try clients.curl(port: port, path: "/dns-query", [], folder: folder)
        XCTAssertEqual(noParameter.status, 400, noParameter.output)
        let notAQuery = try clients.curl(port: port, path: "/dns-query?dns=AAAA", [], folder: folder)
        XCTAssertEqual(notAQuery.status, 400, notAQuery.output)
        let tooLarge = try write([UInt8](repeating: 0, count: 70_000))
        for version in ["--http1.1", "--http2"] {
            let large = try clients.curl(port: port, path: "/dns-query",
                                         [version, "-H", "content-type: application/dns-message",
                                          "--data-binary", "@" + tooLarge], folder: folder)
            XCTAssertEqual(large.status, 413, version + large.output)
        }
        let otherPath = try clients.curl(port: port, path: "/resolve?dns=AAAA", [], folder: folder)
        XCTAssertEqual(otherPath.status, 404, otherPath.output)
        let put = try clients.curl(port: port, path: "/dns-query", ["-X", "PUT", "--data-binary", "@" + query],
                                   folder: folder)
        XCTAssertEqual(put.status, 405, put.output)
        // None of it reached the pipeline as a query; a good one still answers.
        let good = try clients.curl(port: port, path: "/dns-query",
                                    ["-H", "content-type: application/dns-message", "--data-binary", "@" + query],
                                    folder: folder)
        XCTAssertEqual(good.status, 200, good.output)
        XCTAssertTrue(server.server.isRunning)
    }

    /// Many concurrent HTTP/2 streams on one connection, forwarded to a slow upstream: all are
    /// answered, each with its own ID.
    func testDoHAnswersConcurrentStreams() throws {
        let upstream = try CountingUpstream(delayMilliseconds: 200)
        let certificates = try TestCertificates(folder: folder)
        let (_, listeners) = try resolver(upstream, certificates: certificates)
        var arguments = ["--http2", "--parallel", "--parallel-max", "20"]
        let names = (0..<20).map { "stream\($0).example" }
        for (index, name) in names.enumerated() {
            let query = RawDNS.query(id: UInt16(100 + index), name: name)
            let body = folder.appendingPathComponent("stream-\(index).out")
            arguments += ["-o", body.path, "https://resolver.example:\(listeners.dohPort)/dns-query?dns="
                          + EncryptedClients.base64URL(query)]
        }
        let curl = try TestTools.path(of: "curl", package: "curl")
        let run = try TestTools.run(curl, ["-sS", "--max-time", "20", "--cacert", certificates.caPath,
                                           "--resolve", "resolver.example:\(listeners.dohPort):127.0.0.1"]
                                    + arguments, seconds: 40)
        XCTAssertEqual(run.status, 0, run.output)
        for index in names.indices {
            let body = try [UInt8](Data(contentsOf: folder.appendingPathComponent("stream-\(index).out")))
            XCTAssertEqual(RawDNS.id(body), UInt16(100 + index))
            XCTAssertTrue(try ReadMessage(body).answer.first?.hasSuffix("192.0.2.53") == true)
        }
    }

    /// Clients that open a connection and stall in (or before) the TLS handshake hold only their
    /// own connection: others are served meanwhile, and the stalled ones are closed at the idle
    /// timeout.
    func testStalledHandshakesDoNotHoldUpOthers() throws {
        let upstream = try CountingUpstream()
        let certificates = try TestCertificates(folder: folder)
        let (_, listeners) = try resolver(upstream, certificates: certificates,
                                          extra: "tcp: { idle_timeout_ms: 1500, max_connections: 100 }")
        let clients = EncryptedClients(ca: certificates.caPath)
        // A TLS record header promising a ClientHello that never comes, and connections silent from the start.
        let partialHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]
        var stalled: [RawDNS.TCPConnection] = []
        for port in [listeners.dotPort, listeners.dohPort] {
            for index in 0..<5 {
                let connection = try RawDNS.TCPConnection(port: port, timeoutMilliseconds: 5000)
                if index % 2 == 0 { connection.sendRaw(partialHello) }
                stalled.append(connection)
            }
        }
        let dot = try clients.kdig("+tls", port: listeners.dotPort, "blocked.example")
        XCTAssertTrue(dot.output.contains("EDE: 16 (Censored)"), dot.output)
        let doh = try clients.kdig("+https", port: listeners.dohPort, "blocked.example")
        XCTAssertTrue(doh.output.contains("EDE: 16 (Censored)"), doh.output)
        for connection in stalled {
            XCTAssertTrue(connection.isClosedByPeer(), "a stalled handshake is closed at the idle timeout")
        }
    }

    /// SIGHUP re-reads the certificate: the next connection gets the new one. A broken file keeps
    /// the old one and says so.
    func testSIGHUPServesTheNewCertificateAndKeepsTheOldOnABadOne() throws {
        let upstream = try CountingUpstream()
        let first = try TestCertificates(folder: folder, name: "first")
        let (server, listeners) = try resolver(upstream, certificates: first)
        let second = try TestCertificates(folder: folder, name: "second")
        let oldClient = EncryptedClients(ca: first.caPath)
        let newClient = EncryptedClients(ca: second.caPath)
        XCTAssertEqual(try oldClient.kdig("+tls", port: listeners.dotPort, "blocked.example").status, 0)
        XCTAssertNotEqual(try newClient.kdig("+tls", port: listeners.dotPort, "blocked.example").status, 0)

        // A broken certificate file: the reload keeps the certificate in use.
        let good = try String(contentsOfFile: listeners.certificate, encoding: .utf8)
        try "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"
            .write(toFile: listeners.certificate, atomically: true, encoding: .utf8)
        try server.reload()
        XCTAssertTrue(TestTools.waitUntil { server.server.log.contains("tls certificate not reloaded") }, server.server.log)
        XCTAssertEqual(try oldClient.kdig("+tls", port: listeners.dotPort, "blocked.example").status, 0)
        XCTAssertEqual(try oldClient.kdig("+https", port: listeners.dohPort, "blocked.example").status, 0)
        try good.write(toFile: listeners.certificate, atomically: true, encoding: .utf8)

        // A key that does not fit the certificate is refused the same way.
        let other = try second.issue("mismatch")
        try FileManager.default.removeItem(atPath: listeners.key)
        try FileManager.default.copyItem(atPath: other.key, toPath: listeners.key)
        let refusals = server.server.log.components(separatedBy: "tls certificate not reloaded").count
        try server.reload()
        XCTAssertTrue(TestTools.waitUntil {
            server.server.log.components(separatedBy: "tls certificate not reloaded").count > refusals
        }, server.server.log)
        XCTAssertEqual(try oldClient.kdig("+tls", port: listeners.dotPort, "blocked.example").status, 0)

        // The new certificate and key in place: the next connections get them.
        let renewed = try second.issue("renewed")
        for (from, to) in [(renewed.certificate, listeners.certificate), (renewed.key, listeners.key)] {
            try FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
        try server.reload()
        XCTAssertTrue(TestTools.waitUntil {
            server.server.log.components(separatedBy: "tls certificate loaded").count >= 3
        }, server.server.log)
        let dot = try newClient.kdig("+tls", port: listeners.dotPort, "blocked.example")
        XCTAssertEqual(dot.status, 0, dot.output)
        XCTAssertTrue(dot.output.contains("EDE: 16 (Censored)"), dot.output)
        XCTAssertEqual(try newClient.kdig("+https", port: listeners.dohPort, "blocked.example").status, 0)
        XCTAssertNotEqual(try oldClient.kdig("+tls", port: listeners.dotPort, "blocked.example").status, 0)
    }

    /// A client that pads its query (RFC 7830) gets its answer padded to a multiple of 468 bytes
    /// (RFC 8467) over DoT and DoH; one that does not, and any UDP client, gets it unpadded.
    func testEDNSPaddingOnEncryptedTransports() throws {
        let upstream = try CountingUpstream()
        let certificates = try TestCertificates(folder: folder)
        let (server, listeners) = try resolver(upstream, certificates: certificates)
        let clients = EncryptedClients(ca: certificates.caPath)
        for (transport, port) in [("+tls", listeners.dotPort), ("+https", listeners.dohPort)] {
            let padded = try clients.kdig(transport, port: port, "blocked.example", "A", ["+padding"])
            XCTAssertTrue(padded.output.contains(";; PADDING: "), padded.output)
            XCTAssertTrue(padded.output.contains("Received 468 B"), padded.output)
            XCTAssertTrue(padded.output.contains("EDE: 16 (Censored): 'Bad'"), padded.output)
            let forwarded = try clients.kdig(transport, port: port, "padded.example", "A", ["+padding"])
            XCTAssertTrue(forwarded.output.contains("Received 468 B") && forwarded.output.contains("192.0.2.53"),
                          forwarded.output)
            let plain = try clients.kdig(transport, port: port, "blocked.example", "A", ["+nopadding"])
            XCTAssertFalse(plain.output.contains("PADDING"), plain.output)
            XCTAssertTrue(plain.output.contains("EDE: 16 (Censored)"), plain.output)
        }
        // curl POST of a query whose OPT holds an empty Padding option.
        let opt: [UInt8] = [0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 4, 0, 12, 0, 0]
        let query = RawDNS.appendingAdditionals([opt], to: RawDNS.query(id: 7, name: "blocked.example"))
        let post = try clients.curl(port: listeners.dohPort, path: "/dns-query",
                                    ["-H", "content-type: application/dns-message", "--data-binary", "@" + write(query)],
                                    folder: folder)
        let answer = try ReadMessage(post.body)
        XCTAssertTrue(answer.padded)
        XCTAssertEqual(answer.length % 468, 0)
        XCTAssertEqual(answer.ede?.code, 16)
        // Plain UDP is never padded.
        let udp = try XCTUnwrap(RawDNS.udpExchange(query, port: server.port))
        XCTAssertFalse(try ReadMessage(udp).padded)
    }

    /// The query log's protocol, the metrics' `protocol` label and access.allow cover DoT and DoH.
    func testQueryLogMetricsAndAccessCoverEncryptedTransports() throws {
        let upstream = try CountingUpstream()
        let certificates = try TestCertificates(folder: folder)
        let metricsPort = try TestTools.freePort()
        let (_, listeners) = try resolver(upstream, certificates: certificates, extra: """
            query_log: { path: queries.log, mode: all }
            metrics: { listen: "127.0.0.1:\(metricsPort)" }
            """)
        let clients = EncryptedClients(ca: certificates.caPath)
        XCTAssertEqual(try clients.kdig("+tls", port: listeners.dotPort, "blocked.example").status, 0)
        XCTAssertEqual(try clients.kdig("+https", port: listeners.dohPort, "fresh.example").status, 0)
        let log = folder.appendingPathComponent("queries.log")
        func lines() -> [[String: Any]] {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        XCTAssertTrue(TestTools.waitUntil(attempts: 100) { lines().count == 2 },
                      (try? String(contentsOf: log, encoding: .utf8)) ?? "no log")
        XCTAssertEqual(lines().map { $0["protocol"] as? String }, ["dot", "doh"])
        XCTAssertEqual(lines().map { $0["outcome"] as? String }, ["blocked", "forwarded"])
        let metrics = try XCTUnwrap(try TestTools.httpGet(port: metricsPort, path: "/metrics")).body
        func sum(_ labels: [String]) -> Double {
            metrics.split(separator: "\n").filter { $0.hasPrefix("dns_queries_total{") }
                .filter { line in labels.allSatisfy { line.contains($0) } }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }
        XCTAssertEqual(sum([#"protocol="dot""#, #"outcome="blocked""#]), 1, metrics)
        XCTAssertEqual(sum([#"protocol="doh""#, #"outcome="forwarded""#]), 1, metrics)
        XCTAssertEqual(sum([#"protocol="tcp""#]), 0, "encrypted queries are not folded into tcp:\n" + metrics)
    }

    func testAccessAllowRefusesOverDoTAndDoH() throws {
        let upstream = try CountingUpstream()
        let certificates = try TestCertificates(folder: folder)
        let (_, listeners) = try resolver(upstream, certificates: certificates,
                                          extra: #"access: { allow: ["10.0.0.0/8"] }"#)
        let clients = EncryptedClients(ca: certificates.caPath)
        for transport in ["+tls", "+https"] {
            let port = transport == "+tls" ? listeners.dotPort : listeners.dohPort
            let run = try clients.kdig(transport, port: port, "fresh.example")
            XCTAssertTrue(run.output.contains("status: REFUSED"), run.output)
            XCTAssertTrue(run.output.contains("EDE: 18 (Prohibited)"), run.output)
        }
        XCTAssertEqual(upstream.count(of: "fresh.example"), 0)
    }

    func testConfigNeedsACertificateForEncryptedListeners() throws {
        let config = folder.appendingPathComponent("c.yml")
        try "listen_tls: [\"127.0.0.1:8853\"]\nupstreams: [\"127.0.0.1:9\"]\nlists: []\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let check = try TestTools.run(try TestTools.binary(), ["check", "--config", config.path])
        XCTAssertEqual(check.status, 1, check.output)
        XCTAssertTrue(check.output.contains("listen_tls: needs tls.certificate and tls.key"), check.output)

        try "tls: { certificate: missing.crt, key: missing.key }\nlisten_https: [\"127.0.0.1:\(try TestTools.freePort())\"]\n"
            .appending("listen: [\"127.0.0.1:\(try TestTools.freePort())\"]\nupstreams: [\"127.0.0.1:9\"]\nlists: []\n")
            .write(to: config, atomically: true, encoding: .utf8)
        let run = try TestTools.run(try TestTools.binary(), ["run", "--config", config.path], seconds: 30)
        XCTAssertEqual(run.status, 1, run.output)
        XCTAssertTrue(run.output.contains("tls.certificate \(folder.appendingPathComponent("missing.crt").path): no such file"),
                      run.output)
    }

    private func write(_ bytes: [UInt8]) throws -> String {
        let file = folder.appendingPathComponent("body-\(UUID().uuidString).bin")
        try Data(bytes).write(to: file)
        return file.path
    }
}

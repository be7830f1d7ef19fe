import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What a careless operator or a hostile upstream hands the resolver, through the built binary:
/// a reply whose question name is a compression pointer, and list paths that are no regular file
/// (a FIFO would block a read forever, /dev/zero never ends).
final class HostileInputTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// An upstream reply whose question name points forward to the answer's owner is relayed as a
    /// message dig reads, with the client's spelling, from the upstream and from the cache. The
    /// relay used to copy the client's 17-byte name over the 2-byte pointer ("bad label type").
    func testCompressedQuestionNameIsRelayedIntactAndCachedIntact() throws {
        let upstream = try CountingUpstream()
        let server = try ResolverUnderTest(folder: folder, files: [:], lists: [], upstreamPorts: [upstream.port],
                                           threads: 1)
        for attempt in ["upstream", "cache"] {
            let answer = try server.dig.query("CompressQ-x.Example")
            // Seen once in CI (an answer without records; not reproduced in 65 runs since): on failure,
            // say what the upstream was asked and what the server logged.
            let seen = upstream.queries.map { "\($0.name) from \($0.source)" }
            XCTAssertEqual(answer.status, "NOERROR", "\(attempt): \(answer)\nupstream saw \(seen)\n\(server.server.log)")
            XCTAssertEqual(answer.answerData, ["192.0.2.53"], "\(attempt): \(answer)\nupstream saw \(seen)\n\(server.server.log)")
            XCTAssertFalse(answer.description.contains("bad"), "\(attempt): \(answer)")
            XCTAssertTrue(answer.description.contains("CompressQ-x.Example."), "\(attempt), the client's spelling: \(answer)")
        }
        XCTAssertEqual(upstream.count(of: "compressq-x.example"), 1, "the second answer came from the cache")
    }

    /// An open-file limit too low to run on is refused at start, with the limit and what to do,
    /// instead of SwiftNIO stopping the process (seen with 40) or the server spinning once the
    /// descriptors run out (seen with 36).
    func testAnOpenFileLimitTooLowToRunOnIsRefusedAtStart() throws {
        let prlimit = try TestTools.path(of: "prlimit", package: "util-linux")
        let configPath = folder.appendingPathComponent("c.yml").path
        try "listen: [\"127.0.0.1:\(try TestTools.freePort())\"]\nupstreams: [\"127.0.0.1:5300\"]\nthreads: 1\nlists: []\n"
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let result = try TestTools.run(prlimit, ["--nofile=100:100", try TestTools.binary(), "run", "--config", configPath])
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("the open-file limit is 100; block-resolver needs at least 256"), result.output)
        XCTAssertTrue(result.output.contains("LimitNOFILE="), result.output)
    }

    func config(list path: String) -> String {
        """
        upstreams: ["127.0.0.1:5300"]
        lists:
          - { name: odd, path: "\(path)", action: block }
        """
    }

    /// `check` names what is wrong with a list path that is a FIFO, a character device or a
    /// folder, and exits 1 at once, instead of hanging (FIFO) or reading forever (/dev/zero).
    func testCheckRefusesAListThatIsNoRegularFile() throws {
        let fifo = folder.appendingPathComponent("list.fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let cases = [(fifo, "a FIFO (named pipe), not a regular file"),
                     ("/dev/zero", "a character device, not a regular file"),
                     (folder.path, "a directory, not a regular file")]
        for (path, reason) in cases {
            let configPath = folder.appendingPathComponent("c.yml").path
            try config(list: path).write(toFile: configPath, atomically: true, encoding: .utf8)
            let result = try TestTools.run(try TestTools.binary(), ["check", "--config", configPath])
            XCTAssertEqual(result.status, 1, "\(path): \(result.output)")
            XCTAssertTrue(result.output.contains(reason), "\(path): \(result.output)")
        }
        let result = try TestTools.run(try TestTools.binary(), ["check", "--config", "/dev/zero"])
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("/dev/zero") && result.output.contains("a character device"), result.output)
    }

    /// A running server whose list is replaced by a FIFO: the SIGHUP fails promptly with the
    /// reason, the old policy keeps blocking, and SIGTERM still stops it.
    func testReloadOfAFIFOFailsAndSignalsStillWork() throws {
        let upstream = try CountingUpstream()
        let server = try ResolverUnderTest(folder: folder, files: ["b.txt": "blocked.example\n"],
                                           lists: ["{ name: bad, path: b.txt }"], upstreamPorts: [upstream.port],
                                           threads: 1)
        let list = folder.appendingPathComponent("b.txt").path
        XCTAssertEqual(unlink(list), 0)
        XCTAssertEqual(mkfifo(list, 0o600), 0)
        let line = try server.reload()
        XCTAssertTrue(line.contains("reload failed") && line.contains("FIFO"), line)
        XCTAssertEqual(try server.dig.query("blocked.example").answerData, ["0.0.0.0"], "the old policy serves")
        XCTAssertEqual(server.server.stop(), 0, server.server.log)
    }

    /// 513 queries pipelined in one write on one TCP connection are all answered. The handler
    /// used to close a connection with more than 512 queries pending, answers already forwarded
    /// and all; now it stops reading and finishes what it took.
    func testFiveHundredThirteenPipelinedQueriesAreAllAnswered() throws {
        let upstream = try CountingUpstream()
        let server = try ResolverUnderTest(folder: folder, files: [:], lists: [], upstreamPorts: [upstream.port],
                                           threads: 1)
        let connection = try RawDNS.TCPConnection(port: server.port, timeoutMilliseconds: 5000)
        var batch: [UInt8] = []
        for index in 0..<513 {
            let query = RawDNS.query(id: UInt16(index), name: "pipelined\(index).example")
            batch += [UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query
        }
        connection.sendRaw(batch)
        var answered = Set<UInt16>()
        while answered.count < 513, let reply = connection.readFramed() {
            XCTAssertEqual(RawDNS.rcode(reply), 0)
            answered.insert(RawDNS.id(reply))
        }
        XCTAssertEqual(answered.count, 513, "every query answered, none dropped")
    }

    /// A query with several TSIG records: ldns keeps only the last and leaked the others on every
    /// parse (the `reply` fuzz target found it; a client could grow the process with each such
    /// query). It is refused as FORMERR before ldns sees it, and one TSIG alone is still parsed.
    func testAQueryWithSeveralTSIGRecordsIsRefusedBeforeLdnsParsesIt() throws {
        let upstream = try CountingUpstream()
        let server = try ResolverUnderTest(folder: folder, files: [:], lists: [], upstreamPorts: [upstream.port],
                                           threads: 1)
        // Root owner, type TSIG, class ANY, TTL 0, no data.
        let tsig: [UInt8] = [0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]
        let three = RawDNS.appendingAdditionals([tsig, tsig, tsig], to: RawDNS.query(id: 31, name: "tsig3.example"))
        let refused = try XCTUnwrap(RawDNS.udpExchange(three, port: server.port))
        XCTAssertEqual(RawDNS.id(refused), 31)
        XCTAssertEqual(RawDNS.rcode(refused), 1, "FORMERR")
        XCTAssertEqual(upstream.count(of: "tsig3.example"), 0, "never forwarded")
        let one = RawDNS.appendingAdditionals([tsig], to: RawDNS.query(id: 32, name: "tsig1.example"))
        let answered = try XCTUnwrap(RawDNS.udpExchange(one, port: server.port))
        XCTAssertEqual(RawDNS.id(answered), 32)
        XCTAssertNotEqual(RawDNS.rcode(answered), 1, "one TSIG is no format error")
    }

    /// The metrics port holds at most 64 connections (the next is closed on accept) and closes
    /// one idle for 5 s, while DNS keeps answering on its own loops. It used to keep every
    /// connection open for good, until the process ran out of descriptors.
    func testMetricsConnectionsAreLimitedAndIdleOnesClosed() throws {
        let upstream = try CountingUpstream()
        let metricsPort = try TestTools.freePort()
        let server = try ResolverUnderTest(folder: folder, files: [:], lists: [], upstreamPorts: [upstream.port],
                                           extraConfig: "metrics: { listen: \"127.0.0.1:\(metricsPort)\" }",
                                           threads: 1)
        var held: [RawDNS.TCPConnection] = []
        for _ in 0..<64 { held.append(try RawDNS.TCPConnection(port: metricsPort, timeoutMilliseconds: 10_000)) }
        // Accepted by the kernel, then closed by the server: it has 64 already.
        let extra = try RawDNS.TCPConnection(port: metricsPort, timeoutMilliseconds: 3000)
        XCTAssertTrue(extra.isClosedByPeer(), "the 65th connection is closed")
        XCTAssertEqual(try server.dig.query("during.example", "A", ["+tcp"]).answerData, ["192.0.2.53"])
        // The held ones sent nothing: closed after the idle timeout (5 s; the socket waits up to 10).
        XCTAssertTrue(held[0].isClosedByPeer(), "an idle connection is closed")
        XCTAssertTrue(TestTools.waitUntil { (try? TestTools.httpGet(port: metricsPort, path: "/health"))??.body == "ok\n" },
                      "room again once the idle ones are gone")
    }
}

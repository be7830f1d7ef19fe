import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Metrics, query log, privilege drop and shutdown, through the built binary.
final class OperationsIntegrationTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try TestTools.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// The sum over every series of `metric` whose labels include all of `labels`.
    func sum(_ exposition: String, _ metric: String, _ labels: [String] = []) -> Double {
        exposition.split(separator: "\n").filter { line in
            line.hasPrefix(metric + "{") || line.hasPrefix(metric + " ")
        }.filter { line in labels.allSatisfy { line.contains($0) } }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            .reduce(0, +)
    }

    /// `dns_upstream_queries_in_flight` (the dashboard's "in flight" panel) counts the upstream
    /// queries sent and not yet answered: 1 while a slow upstream holds one, 0 once it answered.
    func testInFlightGaugeFollowsAnUpstreamQuery() throws {
        let upstream = try CountingUpstream(delayMilliseconds: 1500)
        let metricsPort = try TestTools.freePort()
        let server = try ResolverUnderTest(
            folder: folder, files: [:], lists: [], upstreamPorts: [upstream.port], timeoutMilliseconds: 4000,
            extraConfig: "metrics: { listen: \"127.0.0.1:\(metricsPort)\" }", threads: 1)
        func inFlight() -> Double? {
            (try? TestTools.httpGet(port: metricsPort, path: "/metrics")).flatMap { $0 }
                .map { sum($0.body, "dns_upstream_queries_in_flight") }
        }
        let dig = server.dig
        let asking = Thread { _ = try? dig.query("slow.example") }
        asking.start()
        XCTAssertTrue(TestTools.waitUntil { inFlight() == 1 }, "one query waits for the upstream")
        XCTAssertTrue(TestTools.waitUntil { asking.isFinished && inFlight() == 0 }, "answered: none in flight")
        XCTAssertEqual(upstream.count(of: "slow.example"), 1)
    }

    func testMetricsCountKnownQueries() throws {
        let upstream = try CountingUpstream()
        let metricsPort = try TestTools.freePort()
        let server = try ResolverUnderTest(
            folder: folder, files: ["b.txt": "blocked.example\n", "w.txt": "watched.example\n"],
            lists: [#"{ name: bad, path: b.txt, category: "Bad" }"#, #"{ name: watch, path: w.txt, action: monitor }"#],
            upstreamPorts: [upstream.port], extraConfig: "metrics: { listen: \"127.0.0.1:\(metricsPort)\" }", threads: 1)
        for _ in 0..<3 { XCTAssertEqual(try server.dig.query("blocked.example").answerData, ["0.0.0.0"]) }
        XCTAssertEqual(try server.dig.query("fresh.example").answerData, ["192.0.2.53"])
        XCTAssertEqual(try server.dig.query("fresh.example").answerData, ["192.0.2.53"])
        XCTAssertEqual(try server.dig.query("watched.example", "A", ["+tcp"]).answerData, ["192.0.2.53"])
        _ = RawDNS.udpExchange(RawDNS.query(id: 9, name: "x.example", qdcount: 2), port: server.port)

        let metrics = try XCTUnwrap(try TestTools.httpGet(port: metricsPort, path: "/metrics"))
        XCTAssertTrue(metrics.status.contains("200"), metrics.status)
        let text = metrics.body
        XCTAssertEqual(sum(text, "dns_queries_total", ["outcome=\"blocked\"", "protocol=\"udp\""]), 3, text)
        XCTAssertEqual(sum(text, "dns_queries_total", ["outcome=\"forwarded\""]), 2, text)
        XCTAssertEqual(sum(text, "dns_queries_total", ["outcome=\"forwarded\"", "protocol=\"tcp\""]), 1, text)
        XCTAssertEqual(sum(text, "dns_queries_total", ["outcome=\"cached\""]), 1, text)
        XCTAssertEqual(sum(text, "dns_queries_total", ["outcome=\"formerr\""]), 1, text)
        XCTAssertEqual(sum(text, "dns_blocked_total", ["list=\"bad\"", "category=\"Bad\""]), 3, text)
        XCTAssertEqual(sum(text, "dns_monitor_hits_total", ["list=\"watch\""]), 1, text)
        XCTAssertEqual(sum(text, "dns_answer_duration_seconds_count"), 7, text)
        XCTAssertEqual(sum(text, "dns_cache_hits_total"), 1, text)
        XCTAssertEqual(sum(text, "dns_cache_misses_total"), 2, text)
        XCTAssertEqual(sum(text, "dns_upstream_queries_total", ["upstream=\"127.0.0.1:\(upstream.port)\""]), 2, text)
        XCTAssertEqual(sum(text, "dns_upstream_up", ["upstream=\"127.0.0.1:\(upstream.port)\""]), 1, text)
        XCTAssertEqual(sum(text, "dns_cache_entries"), 2, text)
        XCTAssertTrue(text.contains("dns_upstream_queries_in_flight 0"), text)
        XCTAssertEqual(sum(text, "dns_list_entries", ["list=\"bad\""]), 1, text)
        XCTAssertEqual(sum(text, "dns_policy_generation"), 1, text)

        try server.write("b.txt", "blocked.example\nmore.example\n")
        XCTAssertTrue(try server.reload().contains("reloaded policy"))
        let after = try XCTUnwrap(try TestTools.httpGet(port: metricsPort, path: "/metrics")).body
        XCTAssertEqual(sum(after, "dns_policy_generation"), 2, after)
        XCTAssertEqual(sum(after, "dns_list_entries", ["list=\"bad\""]), 2, after)
        XCTAssertEqual(sum(after, "dns_reloads_total", ["result=\"success\""]), 1, after)
        XCTAssertEqual(sum(after, "dns_last_reload_success"), 1, after)

        let monitor = try XCTUnwrap(try TestTools.httpGet(port: metricsPort, path: "/monitor")).body
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(monitor.utf8)) as? [String: Any])
        let lists = try XCTUnwrap(json["lists"] as? [String: Any])
        let watch = try XCTUnwrap(lists["watch"] as? [String: Any])
        XCTAssertEqual(watch["hits"] as? Int, 1, monitor)
        XCTAssertEqual((watch["top"] as? [[String: Any]])?.first?["name"] as? String, "watched.example.", monitor)
        XCTAssertTrue(try XCTUnwrap(try TestTools.httpGet(port: metricsPort, path: "/nothing")).status.contains("404"))
    }

    func queryLogLines(_ url: URL) -> [[String: Any]] {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func testQueryLogAllModeSIGUSR1ReopenAndBlockedMode() throws {
        let upstream = try CountingUpstream()
        let log = folder.appendingPathComponent("queries.log")
        let server = try ResolverUnderTest(
            folder: folder, files: ["b.txt": "blocked.example\n"], lists: [#"{ name: bad, path: b.txt }"#],
            upstreamPorts: [upstream.port], extraConfig: "query_log: { path: queries.log, mode: all }")
        XCTAssertEqual(try server.dig.query("blocked.example").answerData, ["0.0.0.0"])
        XCTAssertEqual(try server.dig.query("allowed.example", "A", ["+tcp"]).answerData, ["192.0.2.53"])
        XCTAssertTrue(TestTools.waitUntil(attempts: 60) { self.queryLogLines(log).count == 2 },
                      (try? String(contentsOf: log, encoding: .utf8)) ?? "no log")
        let lines = queryLogLines(log)
        XCTAssertEqual(lines[0]["name"] as? String, "blocked.example.")
        XCTAssertEqual(lines[0]["outcome"] as? String, "blocked")
        XCTAssertEqual(lines[0]["list"] as? String, "bad")
        XCTAssertEqual(lines[0]["protocol"] as? String, "udp")
        XCTAssertEqual(lines[0]["type"] as? String, "A")
        XCTAssertEqual(lines[0]["rcode"] as? String, "NOERROR")
        XCTAssertEqual(lines[0]["client"] as? String, "127.0.0.1")
        XCTAssertNotNil(lines[0]["latency_us"] as? Int)
        XCTAssertTrue((lines[0]["time"] as? String)?.hasSuffix("Z") == true)
        XCTAssertEqual(lines[1]["outcome"] as? String, "forwarded")
        XCTAssertEqual(lines[1]["protocol"] as? String, "tcp")
        XCTAssertTrue(lines[1]["list"] is NSNull)

        // logrotate: move the file away, SIGUSR1, and the next line goes to a new file.
        let rotated = folder.appendingPathComponent("queries.log.1")
        try FileManager.default.moveItem(at: log, to: rotated)
        server.server.signal(SIGUSR1)
        XCTAssertTrue(TestTools.waitUntil(attempts: 60) { FileManager.default.fileExists(atPath: log.path) }, server.server.log)
        XCTAssertEqual(try server.dig.query("after.example").answerData, ["192.0.2.53"])
        XCTAssertTrue(TestTools.waitUntil(attempts: 60) { self.queryLogLines(log).count == 1 })
        XCTAssertEqual(queryLogLines(log).first?["name"] as? String, "after.example.")
        XCTAssertEqual(queryLogLines(rotated).count, 2)

        // Blocked mode: only blocked queries are written.
        let other = try TestTools.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: other) }
        let blockedOnly = try ResolverUnderTest(
            folder: other, files: ["b.txt": "blocked.example\n"], lists: [#"{ name: bad, path: b.txt }"#],
            upstreamPorts: [upstream.port], extraConfig: "query_log: { path: q.log, mode: blocked }")
        XCTAssertEqual(try blockedOnly.dig.query("allowed.example").answerData, ["192.0.2.53"])
        XCTAssertEqual(try blockedOnly.dig.query("www.blocked.example").answerData, ["0.0.0.0"])
        XCTAssertEqual(blockedOnly.server.stop(), 0)
        let blockedLines = queryLogLines(other.appendingPathComponent("q.log"))
        XCTAssertEqual(blockedLines.map { $0["name"] as? String }, ["www.blocked.example."], "flushed at SIGTERM")
    }

    func testDropsToUserNobodyAndStillAnswers() throws {
        guard geteuid() == 0 else {
            XCTFail("this test must run as root (CI and scripts/test run as root) to show the privilege drop")
            return
        }
        let nobody = try XCTUnwrap(getpwnam("nobody")).pointee.pw_uid
        // The lists must stay readable after the switch (reloads read them as nobody).
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        let upstream = try CountingUpstream()
        let server = try ResolverUnderTest(folder: folder, files: ["b.txt": "blocked.example\n"],
                                           lists: [#"{ name: bad, path: b.txt }"#], upstreamPorts: [upstream.port],
                                           extraConfig: "user: nobody")
        let status = try String(contentsOfFile: "/proc/\(server.server.pid)/status", encoding: .utf8)
        let uids = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: \.isWhitespace)
            .dropFirst().compactMap { UInt32($0) }
        XCTAssertEqual(uids, [nobody, nobody, nobody, nobody], status)
        XCTAssertEqual(try server.dig.query("blocked.example").answerData, ["0.0.0.0"])
        XCTAssertEqual(try server.dig.query("allowed.example", "A", ["+tcp"]).answerData, ["192.0.2.53"])
        XCTAssertTrue(server.server.log.contains("dropped privileges"), server.server.log)
    }

    func testWarnsWhenItKeepsRunningAsRoot() throws {
        let upstream = try CountingUpstream()
        let server = try ResolverUnderTest(folder: folder, files: [:], lists: [], upstreamPorts: [upstream.port])
        if geteuid() == 0 {
            XCTAssertTrue(server.server.log.contains("running as root"), server.server.log)
        } else {
            XCTAssertFalse(server.server.log.contains("running as root"), server.server.log)
        }
    }

    func testSIGTERMUnderLoadAnswersWhatIsInFlightAndExitsZero() throws {
        let upstream = try CountingUpstream(delayMilliseconds: 300)
        let server = try ResolverUnderTest(folder: folder, files: [:], lists: [], upstreamPorts: [upstream.port],
                                           timeoutMilliseconds: 2000, threads: 1)
        // 20 queries in flight (the upstream takes 300 ms each), then SIGTERM at once.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        RawDNS.setTimeout(fd, milliseconds: 3000)
        for index in 0..<20 {
            let message = RawDNS.query(id: UInt16(index), name: "slow\(index).example")
            _ = RawDNS.withLoopback(port: server.port) { sendto(fd, message, message.count, 0, $0, $1) }
        }
        usleep(100_000)  // let them all reach the resolver before the signal
        server.server.signal(SIGTERM)
        var answered = Set<UInt16>()
        var buffer = [UInt8](repeating: 0, count: 512)
        while answered.count < 20 {
            let got = recv(fd, &buffer, buffer.count, 0)
            if got <= 0 { break }
            if RawDNS.rcode(Array(buffer[0..<got])) == 0 { answered.insert(RawDNS.id(Array(buffer[0..<got]))) }
        }
        XCTAssertEqual(answered.count, 20, server.server.log)
        XCTAssertTrue(TestTools.waitUntil(attempts: 100) { !server.server.isRunning })
        XCTAssertEqual(server.server.process.terminationStatus, 0, server.server.log)
    }

    /// config/dnsdist/dnsdist.conf with loopback ports: queries go through dnsdist to two
    /// block-resolver instances, and keep being answered when one of them stops.
    func testDnsdistExampleSpreadsQueriesAndSurvivesABackendStopping() throws {
        let dnsdist = try TestTools.path(of: "dnsdist", package: "dnsdist")
        let upstream = try CountingUpstream(address: [192, 0, 2, 7])
        let files = ["b.txt": "blocked.example\n"]
        let lists = [#"{ name: bad, path: b.txt }"#]
        let firstFolder = try TestTools.temporaryFolder()
        let secondFolder = try TestTools.temporaryFolder()
        defer {
            try? FileManager.default.removeItem(at: firstFolder)
            try? FileManager.default.removeItem(at: secondFolder)
        }
        let first = try ResolverUnderTest(folder: firstFolder, files: files, lists: lists, upstreamPorts: [upstream.port])
        let second = try ResolverUnderTest(folder: secondFolder, files: files, lists: lists, upstreamPorts: [upstream.port])

        let example = try String(contentsOf: TestTools.packageRoot.appendingPathComponent("config/dnsdist/dnsdist.conf"),
                                 encoding: .utf8)
        let port = try TestTools.freePort()
        let config = example.replacingOccurrences(of: "0.0.0.0:53", with: "127.0.0.1:\(port)")
            .replacingOccurrences(of: "10.0.0.11:53", with: "127.0.0.1:\(first.port)")
            .replacingOccurrences(of: "10.0.0.12:53", with: "127.0.0.1:\(second.port)")
        XCTAssertNotEqual(config, example)
        let configURL = folder.appendingPathComponent("dnsdist.conf")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        let balancer = try ServerProcess(executable: dnsdist, arguments: ["--supervised", "--disable-syslog", "-C", configURL.path],
                                         logURL: folder.appendingPathComponent("dnsdist.log"))
        defer { balancer.stop() }
        let dig = Dig(server: "127.0.0.1", port: port)
        XCTAssertTrue(TestTools.waitUntil(attempts: 100) { balancer.log.components(separatedBy: "as 'up'").count == 3 },
                      balancer.log)
        for index in 0..<20 {
            XCTAssertEqual(try dig.query("q\(index).allowed.example").status, "NOERROR")
        }
        XCTAssertEqual(try dig.query("allowed.example").answerData, ["192.0.2.7"])
        XCTAssertEqual(first.server.stop(), 0)
        // dnsdist notices within its health-check interval; until then a query may go to the
        // stopped backend and time out, so look for the steady state.
        XCTAssertTrue(TestTools.waitUntil(attempts: 40) { balancer.log.contains("as 'down'") }, balancer.log)
        for _ in 0..<5 { XCTAssertEqual(try dig.query("blocked.example").answerData, ["0.0.0.0"], balancer.log) }
        XCTAssertEqual(try dig.query("again.allowed.example").status, "NOERROR")
        XCTAssertTrue(second.server.isRunning)
    }
}

import NIOCore
@testable import ResolverConfig
import XCTest
@testable import BlockResolver

/// Per-list responses and RPZ actions, decided and written without a server, then read back
/// with ldns.
final class VerdictTests: XCTestCase {
    func snapshot(_ lists: [(ListSettings, ParsedList)]) throws -> PolicySnapshot {
        let loaded = lists.map {
            LoadedList(settings: $0.0, parsed: $0.1, identity: .init(size: 0, modified: .init(), contentHash: 0),
                       loadSeconds: 0, reused: false)
        }
        let settings = try ConfigLoader(resolvConfPath: "/nonexistent").parse(
            yaml: "upstreams: [\"127.0.0.1:5300\"]\nlists: []\n", path: "/c.yml")
        let parts = try PolicySnapshot.Parts(generation: 1, settings: settings, policy: CompiledPolicy(lists: loaded))
        return PolicySnapshot(parts: parts, now: 0)
    }

    func list(_ name: String, response: BlockResponse = .sinkhole, action: ListAction = .block, text: String)
        -> (ListSettings, ParsedList) {
        (ListSettings(name: name, path: "/" + name, pathAsWritten: name, format: .domains, action: action,
                      category: name, configLine: 1, response: response),
         DomainsReader().parse(Array(text.utf8), fileName: name))
    }

    /// The verdict for `name`/`type` over `transport`, as "forward", "drop" or "RCODE answers/authority TC?".
    func verdict(_ snapshot: PolicySnapshot, _ name: String, _ type: UInt16 = 1,
                 transport: Transport = .udp) throws -> String {
        let query = try QueryBuilder.query(name: name, type: type, edns: true)
        let verdict: Verdict = query.withUnsafeBytes { bytes in
            QueryParser.parse(bytes) { outcome in
                guard case .query(let parsed) = outcome else { return .drop }
                let lower = Array(parsed.name).map(DomainName.lowercase)
                let match = lower.withUnsafeBufferPointer { snapshot.policy.decide($0, active: snapshot.active) }
                return Verdict.decide(parsed, match: match, snapshot: snapshot, transport: transport,
                                      allocator: ByteBufferAllocator())
            }
        }
        switch verdict {
        case .forward: return "forward"
        case .drop: return "drop"
        case .follow(let follow): return "follow \(DomainName.presentation(ofWire: follow.target))"
        case .answer(let buffer):
            let bytes = Array(buffer.readableBytesView)
            let rcode = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"][Int(bytes[3] & 0xF)]
            let tc = bytes[2] & 0x02 != 0 ? " TC" : ""
            // Every answer must be a message ldns can read.
            XCTAssertFalse(QueryBuilder.describe(bytes).contains("cannot read"))
            return "\(rcode) \(bytes[7])/\(bytes[9])\(tc)"
        }
    }

    func testEachListResponse() throws {
        let s = try snapshot([
            list("sink", text: "sink.example\n"),
            list("nx", response: .nxdomain, text: "nx.example\n"),
            list("nodata", response: .nodata, text: "nodata.example\n"),
            list("refused", response: .refused, text: "refused.example\n"),
            list("drop", response: .drop, text: "drop.example\n"),
            list("watch", action: .monitor, text: "watch.example\n"),
            list("allow", action: .allow, text: "ok.sink.example\n"),
        ])
        XCTAssertEqual(try verdict(s, "a.sink.example"), "NOERROR 1/0")
        XCTAssertEqual(try verdict(s, "a.sink.example", 15), "NOERROR 0/1")
        XCTAssertEqual(try verdict(s, "nx.example"), "NXDOMAIN 0/1")
        XCTAssertEqual(try verdict(s, "nodata.example"), "NOERROR 0/1")
        XCTAssertEqual(try verdict(s, "refused.example"), "REFUSED 0/0")
        XCTAssertEqual(try verdict(s, "drop.example"), "drop")
        XCTAssertEqual(try verdict(s, "watch.example"), "forward")
        XCTAssertEqual(try verdict(s, "ok.sink.example"), "forward")
        XCTAssertEqual(try verdict(s, "unlisted.example"), "forward")
    }

    func testRPZActionsOverUDPAndTCP() throws {
        let rpz = RPZReader().parse(try RPZParserTests.fixture(), fileName: "policy.rpz")
        let settings = ListSettings(name: "rpz", path: "/rpz", pathAsWritten: "rpz", format: .rpz, action: .block,
                                    category: "rpz", configLine: 1)
        let s = try snapshot([(settings, rpz)])
        XCTAssertEqual(try verdict(s, "tcp.example"), "NOERROR 0/0 TC")
        XCTAssertEqual(try verdict(s, "tcp.example", transport: .tcp), "forward")
        XCTAssertEqual(try verdict(s, "drop.example"), "drop")
        XCTAssertEqual(try verdict(s, "ok.judi.example"), "forward")
        XCTAssertEqual(try verdict(s, "a.b.judi.example"), "NXDOMAIN 0/1")
        XCTAssertEqual(try verdict(s, "local.example", 28), "NOERROR 1/0")
        XCTAssertEqual(try verdict(s, "local.example", 15), "NOERROR 0/1")
        XCTAssertEqual(try verdict(s, "landing.example", 15), "follow trustpositif.block-resolver.test.")
    }

    func testMonitorCounterCountsPerListAndEntry() {
        let counter = MonitorCounter()
        counter.record(list: "watch", entry: "twitch.tv.")
        counter.record(list: "watch", entry: "twitch.tv.")
        counter.record(list: "watch", entry: "discord.com.")
        counter.record(list: "other", entry: "x.example.")
        let counts = counter.snapshot
        XCTAssertEqual(counts.perList, ["watch": 3, "other": 1])
        XCTAssertEqual(counts.perEntry["watch"], ["twitch.tv.": 2, "discord.com.": 1])
    }
}

import ResolverConfig
import XCTest
@testable import BlockResolver

/// The upstream pool across reloads: unchanged settings keep the very pool, changed ones keep the
/// state of every upstream still named.
final class UpstreamSetTests: XCTestCase {
    func settings(_ upstreams: [String], strategy: String = "ordered") throws -> ResolverSettings {
        let list = upstreams.map { "\"\($0)\"" }.joined(separator: ", ")
        return try ConfigLoader(resolvConfPath: "/nonexistent").parse(
            yaml: "upstreams: [\(list)]\nupstream_strategy: \(strategy)\nlists: []\n", path: "/c.yml")
    }

    func testUnchangedSettingsKeepThePoolAndChangedOnesKeepTheTargets() throws {
        let set = try UpstreamSet(settings: try settings(["127.0.0.1:5301", "127.0.0.1:5302"]))
        let first = set.current
        _ = first.targets[0].health.recordFailure(now: .now(), downFor: .seconds(5))
        XCTAssertFalse(try set.apply(try settings(["127.0.0.1:5301", "127.0.0.1:5302"])))
        XCTAssertTrue(set.current === first, "a reload that changes no upstream setting keeps the pool")

        XCTAssertTrue(try set.apply(try settings(["127.0.0.1:5303", "127.0.0.1:5301"])))
        let second = set.current
        XCTAssertEqual(second.targets.map(\.name), ["127.0.0.1:5303", "127.0.0.1:5301"])
        XCTAssertTrue(second.targets[1] === first.targets[0], "5301 keeps its target, health and all")
        XCTAssertEqual(second.targets[1].health.failures.load(ordering: .relaxed), 1)

        XCTAssertTrue(try set.apply(try settings(["127.0.0.1:5303", "127.0.0.1:5301"], strategy: "fastest")))
        XCTAssertTrue(set.current.targets[0] === second.targets[0], "a new strategy keeps the targets too")
    }
}

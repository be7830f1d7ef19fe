import XCTest
@testable import ResolverConfig

final class ListScheduleTests: XCTestCase {
    let from = ListSchedule.parse("2022-07-30T00:00:00+07:00")!
    let until = ListSchedule.parse("2022-08-05T00:00:00+07:00")!

    func testBoundariesFromInclusiveUntilExclusive() {
        let window = ListSchedule(from: from, until: until)
        XCTAssertFalse(window.isActive(at: from - 0.001))
        XCTAssertTrue(window.isActive(at: from))
        XCTAssertTrue(window.isActive(at: until - 0.001))
        XCTAssertFalse(window.isActive(at: until))
        XCTAssertEqual(window.nextChange(after: from - 10), from)
        XCTAssertEqual(window.nextChange(after: from), until)
        XCTAssertNil(window.nextChange(after: until))
        XCTAssertTrue(ListSchedule.always.isActive(at: 0))
    }

    func testParsesRFC3339() {
        XCTAssertEqual(ListSchedule.parse("2022-07-29T17:00:00Z"), from)
        XCTAssertEqual(ListSchedule.parse("2022-07-29T17:00:00.500Z"), from + 0.5)
        XCTAssertNil(ListSchedule.parse("30 July 2022"))
        XCTAssertNil(ListSchedule.parse("2022-07-30"))
        XCTAssertEqual(ListSchedule(from: from).describe(at: from - 1), "not yet active (from 2022-07-29T17:00:00Z)")
    }

    func testPolicyFollowsTheInjectedClock() throws {
        func list(_ name: String, _ action: ListAction, _ schedule: ListSchedule) -> LoadedList {
            LoadedList(settings: ListSettings(name: name, path: "/" + name, pathAsWritten: name, format: .domains,
                                              action: action, category: name, configLine: 1, schedule: schedule),
                       parsed: DomainsReader().parse(Array("paypal.com\n".utf8), fileName: name),
                       identity: .init(size: 0, modified: .init(), contentHash: 0), loadSeconds: 0, reused: false)
        }
        // Blocked from the sanction date; a temporary unblock for one week in between.
        let policy = try CompiledPolicy(lists: [
            list("sanction", .block, ListSchedule(from: from)),
            list("temporary-unblock", .allow, ListSchedule(from: from + 86_400, until: from + 7 * 86_400)),
        ])
        func decision(at date: Double) -> String? {
            let wire = try! DomainName.wireForm("www.paypal.com").get()
            let active = policy.activeLists(at: date)
            return wire.withUnsafeBufferPointer { policy.decide($0, active: active) }
                .map { policy.lists[$0.listIndex].settings.name }
        }
        XCTAssertNil(decision(at: from - 1))
        XCTAssertEqual(decision(at: from), "sanction")
        XCTAssertEqual(decision(at: from + 86_400), "temporary-unblock")
        XCTAssertEqual(decision(at: from + 7 * 86_400), "sanction")
        XCTAssertEqual(policy.nextScheduleChange(after: from), from + 86_400)
    }

    func testMonitorListsNeverDecideButAreReported() throws {
        func list(_ name: String, _ action: ListAction, _ text: String) -> LoadedList {
            LoadedList(settings: ListSettings(name: name, path: "/" + name, pathAsWritten: name, format: .domains,
                                              action: action, category: name, configLine: 1),
                       parsed: DomainsReader().parse(Array(text.utf8), fileName: name),
                       identity: .init(size: 0, modified: .init(), contentHash: 0), loadSeconds: 0, reused: false)
        }
        let policy = try CompiledPolicy(lists: [list("watch", .monitor, "steampowered.com\nstore.steampowered.com\n"),
                                                list("block", .block, "paypal.com\n")])
        let wire = try DomainName.wireForm("cdn.store.steampowered.com").get()
        wire.withUnsafeBufferPointer { name in
            XCTAssertNil(policy.decide(name, active: [true, true]))
            let hits = policy.monitorHits(name, active: [true, true])
            XCTAssertEqual(hits.map(\.listIndex), [0])
            XCTAssertEqual(hits.map(\.suffixOffset), [4])  // the most specific entry: store.steampowered.com
            XCTAssertEqual(policy.monitorHits(name, active: [false, true]), [])
        }
    }
}

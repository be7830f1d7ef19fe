import Foundation
import NIOCore
import NIOPosix
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import BlockResolver

/// The per-loop upstream UDP sockets when descriptors run out (issue 14, point 3): a slot whose
/// socket could not be opened must be opened again once descriptors are back, or the pool shrinks
/// for good with every exhaustion episode. The exhaustion is real, not injected: the soft limit
/// is lowered to what is open and the rest filled with `dup`.
final class UpstreamSocketPoolTests: XCTestCase {
    /// Descriptors used up until `release`, which frees them and restores the limit.
    final class Exhaustion {
        private var original = rlimit()
        private var filler: [Int32] = []

        init() throws {
            XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &original), 0)
            var limit = original
            let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
            limit.rlim_cur = rlim_t(open + 32)
            XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
            while true {
                let fd = dup(0)
                if fd < 0 { break }
                filler.append(fd)
            }
        }

        func release() {
            for fd in filler { close(fd) }
            filler = []
            XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &original), 0)
        }

        deinit { release() }
    }

    var families: [Bool] { FileManager.default.fileExists(atPath: "/proc/net/if_inet6") ? [false, true] : [false] }

    /// Waits up to `seconds` for every family of `pool` to be full; true when it is.
    func waitUntilFull(_ pool: UpstreamSocketPool, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while families.contains(where: { pool.usable(ipv6: $0) < UpstreamSocketPool.size }) && Date() < deadline {
            usleep(50_000)
        }
        return !families.contains { pool.usable(ipv6: $0) < UpstreamSocketPool.size }
    }

    /// Opened while the process has no descriptor left, the pool has no socket; once descriptors
    /// are back it is full again within the first retry (1 s). It used to stay empty for good.
    func testSlotsThatFailedToOpenAreOpenedAgainOnceDescriptorsAreBack() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let pool = UpstreamSocketPool(eventLoop: group.next())
        defer { pool.close() }

        let exhaustion = try Exhaustion()
        try pool.open().wait()
        let starved = pool.usable(ipv6: false)
        exhaustion.release()
        XCTAssertEqual(starved, 0, "every IPv4 socket should have failed with EMFILE")

        XCTAssertTrue(waitUntilFull(pool, seconds: 5), "the pool should be back to full size once descriptors are free: "
                      + families.map { "IPv\($0 ? 6 : 4) \(pool.usable(ipv6: $0))" }.joined(separator: ", "))
    }

    /// While descriptors stay exhausted the waits grow (1 s, 2 s, then 4 s): descriptors freed
    /// 3.5 s in are not used before the retry at 7 s, and are then. A retry every second (or one
    /// per slot) would have refilled the pool at once.
    func testRetriesBackOffWhileDescriptorsStayExhausted() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let pool = UpstreamSocketPool(eventLoop: group.next())
        defer { pool.close() }

        let exhaustion = try Exhaustion()
        try pool.open().wait()
        usleep(3_500_000)  // retries at 1 s and 3 s, both failing
        exhaustion.release()
        usleep(1_000_000)
        XCTAssertEqual(pool.usable(ipv6: false), 0, "no retry between 3 s and 7 s")
        XCTAssertTrue(waitUntilFull(pool, seconds: 5.5), "the retry at 7 s refills the pool")
    }
}

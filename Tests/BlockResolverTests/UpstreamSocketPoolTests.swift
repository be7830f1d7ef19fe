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
/// for good with every exhaustion episode.
final class UpstreamSocketPoolTests: XCTestCase {
    /// Opens the pool while the process has no descriptor left (a real EMFILE, not an injected
    /// one: the soft limit is lowered to what is open and the rest filled with `dup`), then gives
    /// the descriptors back and waits for the pool to refill.
    func testSlotsThatFailedToOpenAreOpenedAgainOnceDescriptorsAreBack() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let pool = UpstreamSocketPool(eventLoop: group.next())
        defer { pool.close() }

        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        let original = limit
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        limit.rlim_cur = rlim_t(open + 32)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        var filler: [Int32] = []
        while true {
            let fd = dup(0)
            if fd < 0 { break }
            filler.append(fd)
        }
        // Both families fail to open every socket: descriptors are exhausted.
        try pool.open().wait()
        let starved = pool.usable(ipv6: false)
        for fd in filler { close(fd) }
        var restored = original
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restored), 0)
        XCTAssertEqual(starved, 0, "every IPv4 socket should have failed with EMFILE")

        // The first retry comes after `retryFirst` (1 s); its success opens the rest one by one.
        let families = FileManager.default.fileExists(atPath: "/proc/net/if_inet6") ? [false, true] : [false]
        let deadline = Date().addingTimeInterval(5)
        while families.contains(where: { pool.usable(ipv6: $0) < UpstreamSocketPool.size }) && Date() < deadline {
            usleep(50_000)
        }
        for ipv6 in families {
            XCTAssertEqual(pool.usable(ipv6: ipv6), UpstreamSocketPool.size,
                           "IPv\(ipv6 ? 6 : 4): the pool should be back to full size once descriptors are available")
        }
    }
}

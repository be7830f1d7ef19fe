import NIOCore
import NIOPosix
import ResolverConfig
import XCTest
@testable import BlockResolver

/// The process-wide answer cache: TTL countdown, eviction, and misses from several event loops
/// sharing one upstream query.
final class AnswerCacheTests: XCTestCase {
    /// A reply for `name` A with one record of `ttl`, as the upstream sends it (ID 0x4242).
    func reply(_ name: String, ttl: UInt32 = 300) throws -> ReplyParser.Reply {
        let query = try QueryBuilder.query(name: name, type: 1, edns: false)
        var bytes = query
        bytes[2] |= 0x80  // QR
        bytes[7] = 1      // ANCOUNT
        bytes += [0xC0, 12, 0, 1, 0, 1] + withUnsafeBytes(of: ttl.bigEndian, Array.init) + [0, 4, 192, 0, 2, 1]
        let question = Question(name: try DomainName.wireForm(name).get(), type: 1, class: 1)
        return try XCTUnwrap(bytes.withUnsafeBytes { ReplyParser.check($0, id: 0x4242, question: question) })
    }

    func key(_ name: String) throws -> CacheKey {
        CacheKey(name: try DomainName.wireForm(name).get(), type: 1, class: 1, dnssecOK: false)
    }

    func testTTLCountsDownAndIDIsPatched() throws {
        let cache = AnswerCache()
        let start = NIODeadline.now()
        let parsed = try reply("a.example", ttl: 300)
        XCTAssertEqual(parsed.image.ttlOffsets.count, 1)
        cache.store(try key("a.example"), reply: parsed, settings: .init(), now: start)
        let later = start + .seconds(42)
        let entry = try XCTUnwrap(cache.fresh(try key("a.example"), now: later))
        let name = try DomainName.wireForm("A.Example").get()
        let answer = name.withUnsafeBufferPointer { name in
            entry.image.answer(id: 0xBEEF, question: name, ttlCap: entry.ttlCap, elapsed: entry.elapsed(at: later),
                               opt: nil, dnssecOK: false, allocator: ByteBufferAllocator())
        }
        XCTAssertEqual(answer.getInteger(at: 0, as: UInt16.self), 0xBEEF)
        XCTAssertEqual(answer.getBytes(at: 12, length: name.count), name, "the client's spelling")
        XCTAssertEqual(answer.getInteger(at: parsed.image.ttlOffsets[0], as: UInt32.self), 258)
        XCTAssertNil(cache.fresh(try key("a.example"), now: start + .seconds(301)))
    }

    func testAHitEntrySurvivesEvictionAndAnUnusedOneGoes() throws {
        let cache = AnswerCache(shards: 1)
        var settings = ResolverSettings.Cache()
        settings.maxEntries = 2
        let now = NIODeadline.now()
        for name in ["popular.example", "once.example"] {
            cache.store(try key(name), reply: try reply(name), settings: settings, now: now)
        }
        XCTAssertNotNil(cache.fresh(try key("popular.example"), now: now))
        let evicted = cache.complete(try key("new.example"), with: .success(try reply("new.example")),
                                     settings: settings, now: now)
        XCTAssertEqual(cache.count, 2)
        XCTAssertNotNil(cache.fresh(try key("popular.example"), now: now), "hit since stored: second chance")
        XCTAssertNil(cache.fresh(try key("once.example"), now: now))
        XCTAssertEqual(evicted, 1)
    }

    /// `max_entries` bounds the whole cache, whichever shard a name falls in.
    func testMaxEntriesBoundsEveryShardTogether() throws {
        let cache = AnswerCache(shards: 4)
        var settings = ResolverSettings.Cache()
        settings.maxEntries = 40
        let now = NIODeadline.now()
        for index in 0..<400 {
            cache.store(try key("n\(index).example"), reply: try reply("n\(index).example"), settings: settings, now: now)
        }
        XCTAssertLessThanOrEqual(cache.count, 40)
        XCTAssertGreaterThan(cache.count, 20)
    }

    /// A miss on one loop while another loop's upstream query for the same key is in flight
    /// joins it, and each waiter is called back on its own loop with the one reply.
    func testMissesFromTwoLoopsShareOneFetch() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let loops = [group.next(), group.next()]
        let cache = AnswerCache()
        let key = try key("shared.example")
        let now = NIODeadline.now()
        let delivered = [loops[0].makePromise(of: Bool.self), loops[1].makePromise(of: Bool.self)]
        func waiter(_ index: Int) -> PendingFetch.Waiter {
            let loop = loops[index]
            let promise = delivered[index]
            return PendingFetch.Waiter(eventLoop: loop) { result in
                promise.succeed(loop.inEventLoop && (try? result.get()) != nil)
            }
        }
        guard case .first = cache.join(key, now: now, waiter: waiter(0)) else { return XCTFail("first miss") }
        guard case .joined = cache.join(key, now: now, waiter: waiter(1)) else { return XCTFail("second joins") }
        cache.complete(key, with: .success(try reply("shared.example")), settings: .init(), now: now)
        XCTAssertTrue(try delivered[0].futureResult.wait())
        XCTAssertTrue(try delivered[1].futureResult.wait())
        guard case .hit = cache.join(key, now: now, waiter: waiter(0)) else { return XCTFail("stored for both") }
    }
}

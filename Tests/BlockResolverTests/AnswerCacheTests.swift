import NIOCore
import ResolverConfig
import XCTest
@testable import BlockResolver

/// The per-loop answer cache: TTL countdown, negative caching, eviction.
final class AnswerCacheTests: XCTestCase {
    /// A reply for `name` A with one record of `ttl`, as the upstream sends it (ID 0x1234).
    func reply(_ name: String, ttl: UInt32 = 300) throws -> (ByteBuffer, ReplyParser.Reply) {
        let query = try QueryBuilder.query(name: name, type: 1, edns: false)
        var bytes = query
        bytes[2] |= 0x80  // QR
        bytes[7] = 1      // ANCOUNT
        bytes += [0xC0, 12, 0, 1, 0, 1] + withUnsafeBytes(of: ttl.bigEndian, Array.init) + [0, 4, 192, 0, 2, 1]
        let question = Question(name: try DomainName.wireForm(name).get(), type: 1, class: 1)
        let parsed = try XCTUnwrap(bytes.withUnsafeBytes { ReplyParser.check($0, id: 0x4242, question: question) })
        return (ByteBufferAllocator().buffer(bytes: bytes), parsed)
    }

    func key(_ name: String) throws -> AnswerCache.Key {
        AnswerCache.Key(name: try DomainName.wireForm(name).get(), type: 1, class: 1, dnssecOK: false)
    }

    func testTTLCountsDownAndIDIsPatched() throws {
        let cache = AnswerCache()
        let start = NIODeadline.now()
        let (wire, parsed) = try reply("a.example", ttl: 300)
        XCTAssertEqual(parsed.ttlOffsets?.count, 1)
        cache.store(try key("a.example"), wire: wire, reply: parsed, settings: .init(), now: start)
        let later = start + .seconds(42)
        let entry = try XCTUnwrap(cache.fresh(try key("a.example"), now: later))
        let name = try DomainName.wireForm("A.Example").get()
        let answer = name.withUnsafeBufferPointer { name in
            AnswerCache.answer(entry, id: 0xBEEF, question: name, now: later, allocator: ByteBufferAllocator())
        }
        XCTAssertEqual(answer.getInteger(at: 0, as: UInt16.self), 0xBEEF)
        XCTAssertEqual(answer.getInteger(at: parsed.ttlOffsets![0], as: UInt32.self), 258)
        XCTAssertNil(cache.fresh(try key("a.example"), now: start + .seconds(301)))
    }

    func testAHitEntrySurvivesEvictionAndAnUnusedOneGoes() throws {
        let cache = AnswerCache()
        var settings = ResolverSettings.Cache()
        settings.maxEntries = 2
        let now = NIODeadline.now()
        for name in ["popular.example", "once.example"] {
            let (wire, parsed) = try reply(name)
            cache.store(try key(name), wire: wire, reply: parsed, settings: settings, now: now)
        }
        XCTAssertNotNil(cache.fresh(try key("popular.example"), now: now))
        let (wire, parsed) = try reply("new.example")
        cache.store(try key("new.example"), wire: wire, reply: parsed, settings: settings, now: now)
        XCTAssertEqual(cache.count, 2)
        XCTAssertNotNil(cache.fresh(try key("popular.example"), now: now), "hit since stored: second chance")
        XCTAssertNil(cache.fresh(try key("once.example"), now: now))
        XCTAssertEqual(cache.evictions, 1)
    }
}

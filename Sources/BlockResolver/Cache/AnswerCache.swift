import Atomics
import NIOCore
import ResolverConfig

/// Forwarded answers kept as reply images, one cache for the whole process, and the upstream
/// queries in flight, so that identical misses from any event loop share one upstream query.
///
/// Concurrency model: the keys are spread over `shardCount` shards by hash, each with its own
/// lock, held only for a dictionary lookup or update. Loops meet on one lock only when they ask
/// for names of the same shard at the same moment, so with 64 shards they rarely wait on each
/// other; there is no lock or atomic that every query takes. `cache.max_entries` bounds the
/// process: each shard holds `max_entries / shardCount` entries, rounded up.
///
/// A hit copies the stored image and patches its ID, the question's letter case and every TTL
/// (counted down since it was stored); ldns parsed it once, when it arrived.
final class AnswerCache: Sendable {
    private let shards: [CacheShard]
    private let mask: Int
    private let entryCount = ManagedAtomic<Int>(0)

    /// `shards` is rounded up to a power of two.
    init(shards: Int = 64) {
        var count = 1
        while count < shards { count <<= 1 }
        self.shards = (0..<count).map { _ in CacheShard() }
        mask = count - 1
    }

    var shardCount: Int { shards.count }
    /// Entries in the whole cache.
    var count: Int { entryCount.load(ordering: .relaxed) }

    @inline(__always)
    private func shard(_ key: CacheKey) -> CacheShard {
        shards[key.shardHash & mask]
    }

    /// A fresh entry for `key`, or nil.
    func fresh(_ key: CacheKey, now: NIODeadline) -> CacheEntry? {
        shard(key).fresh(key, now: now)
    }

    /// An expired entry that may still be served stale.
    func stale(_ key: CacheKey, now: NIODeadline) -> CacheEntry? {
        shard(key).stale(key, now: now)
    }

    /// After a miss: the entry if it arrived meanwhile, else `waiter` joins the upstream query
    /// in flight for `key` or the caller is told to send the first one.
    func join(_ key: CacheKey, now: NIODeadline, waiter: PendingFetch.Waiter) -> CacheShard.Join {
        shard(key).join(key, now: now, waiter: waiter)
    }

    /// Ends the upstream query for `key`: stores the reply when it may be cached, and hands the
    /// result to every waiter on its own loop. Returns the number of entries evicted.
    @discardableResult
    func complete(_ key: CacheKey, with result: Result<ReplyParser.Reply, Error>, settings: ResolverSettings.Cache,
                  now: NIODeadline) -> Int {
        var entry: CacheEntry? = nil
        if case .success(let reply) = result { entry = Self.entry(for: reply, settings: settings, now: now) }
        let capacity = max(1, (settings.maxEntries + shards.count - 1) / shards.count)
        let (waiters, added, evicted) = shard(key).complete(key, entry: entry, capacity: capacity)
        if added != 0 { entryCount.wrappingIncrement(by: added, ordering: .relaxed) }
        PendingFetch.deliver(result, to: waiters)
        return evicted
    }

    /// Stores `reply` for `key` with no one waiting (tests, and warming).
    func store(_ key: CacheKey, reply: ReplyParser.Reply, settings: ResolverSettings.Cache, now: NIODeadline) {
        complete(key, with: .success(reply), settings: settings, now: now)
    }

    /// The entry `reply` makes under the cache settings; nil for answers that must not be
    /// cached (truncated, REFUSED and the like, no TTL, the cache turned off).
    static func entry(for reply: ReplyParser.Reply, settings: ResolverSettings.Cache, now: NIODeadline) -> CacheEntry? {
        guard settings.maxEntries > 0, !reply.truncated else { return nil }
        let seconds: UInt32
        switch reply.rcode {
        case 0 where reply.answerCount > 0:
            guard let minimum = reply.minimumTTL else { return nil }
            seconds = min(max(minimum, settings.minTTL), settings.maxTTL)
        case 0, 3:
            // NODATA and NXDOMAIN (RFC 2308): min(SOA TTL, SOA MINIMUM); without a SOA, not cached.
            guard let negative = reply.negativeTTL else { return nil }
            seconds = min(max(negative, settings.minTTL), settings.maxTTL)
        case 2:
            seconds = settings.servfailTTL
        default:
            return nil
        }
        if seconds == 0 { return nil }
        let expires = now + .seconds(Int64(seconds))
        return CacheEntry(image: reply.image, ttlCap: settings.maxTTL, stored: now, expires: expires,
                          staleUntil: settings.serveStale ? expires + .seconds(Int64(settings.maxStaleSeconds)) : expires)
    }
}

import NIOConcurrencyHelpers
import NIOCore
import ResolverConfig

/// One shard of the answer cache: a dictionary, its insertion order for eviction, and the
/// upstream queries in flight for its keys, all behind one lock held for a lookup or an update
/// only (an answer is built outside it).
///
/// Eviction: second chance (CLOCK) over insertion order.
final class CacheShard: @unchecked Sendable {
    private let lock = NIOLock()
    // Everything below is read and written only with `lock` held.
    private var entries: [CacheKey: CacheEntry] = [:]
    private var order = CircularBuffer<CacheKey>()
    private var pending: [CacheKey: PendingFetch] = [:]

    enum Join {
        /// The answer arrived meanwhile.
        case hit(CacheEntry)
        /// Another client's upstream query is in flight; the waiter is called with its result.
        case joined
        /// No query in flight: the caller sends one and calls `complete` with its result.
        case first
    }

    var count: Int { lock.withLock { entries.count } }

    func fresh(_ key: CacheKey, now: NIODeadline) -> CacheEntry? {
        lock.withLock {
            guard let entry = entries[key], entry.expires > now else { return nil }
            entry.referenced = true
            return entry
        }
    }

    func stale(_ key: CacheKey, now: NIODeadline) -> CacheEntry? {
        lock.withLock {
            guard let entry = entries[key], entry.staleUntil > now else { return nil }
            return entry
        }
    }

    func join(_ key: CacheKey, now: NIODeadline, waiter: PendingFetch.Waiter) -> Join {
        lock.withLock {
            if let entry = entries[key], entry.expires > now {
                entry.referenced = true
                return .hit(entry)
            }
            if let fetch = pending[key] {
                fetch.add(waiter)
                return .joined
            }
            pending[key] = PendingFetch(first: waiter)
            return .first
        }
    }

    /// Stores `entry` (if any) and ends the fetch of `key`; returns its waiters and the number
    /// of entries the store added (1, 0 or less after evictions) and evicted.
    func complete(_ key: CacheKey, entry: CacheEntry?, capacity: Int)
        -> (waiters: [PendingFetch.Waiter], added: Int, evicted: Int) {
        lock.withLock {
            let waiters = pending.removeValue(forKey: key)?.waiters ?? []
            guard let entry else { return (waiters, 0, 0) }
            guard entries.updateValue(entry, forKey: key) == nil else { return (waiters, 0, 0) }
            order.append(key)
            var evicted = 0
            var turns = 0
            while entries.count > capacity, let oldest = order.popFirst() {
                turns += 1
                if let candidate = entries[oldest], candidate.referenced, turns <= order.count + 1 {
                    candidate.referenced = false
                    order.append(oldest)
                    continue
                }
                if entries.removeValue(forKey: oldest) != nil { evicted += 1 }
            }
            return (waiters, 1 - evicted, evicted)
        }
    }
}

import NIOCore
import ResolverConfig

/// Forwarded answers kept as wire images, one cache per event loop.
///
/// Eviction: second chance (CLOCK) over insertion order.
///
/// Concurrency model: none needed. Each event loop owns one cache and only that loop's queries
/// touch it, so a hit takes no lock and no atomic; the price is that two loops may each ask the
/// upstream once for the same name. A hit copies the stored message and patches its ID, the
/// question's letter case and every TTL (counted down since it was stored); ldns parsed it once,
/// when it arrived.
final class AnswerCache {
    struct Key: Hashable {
        /// Lower-case wire-form name.
        let name: [UInt8]
        let type: UInt16
        let `class`: UInt16
        let dnssecOK: Bool

        /// The name as one run of bytes: the synthesized hash feeds the hasher a byte at a time.
        func hash(into hasher: inout Hasher) {
            name.withUnsafeBytes { hasher.combine(bytes: $0) }
            hasher.combine(type)
            hasher.combine(`class`)
            hasher.combine(dnssecOK)
        }
    }

    final class Entry {
        /// The upstream's message as received (its ID is patched per answer).
        let wire: [UInt8]
        let ttlOffsets: [Int]
        /// Each record's TTL as stored, clamped to `max_ttl`.
        let ttls: [UInt32]
        let stored: NIODeadline
        let expires: NIODeadline
        /// Until when it may be served stale (RFC 8767) after `expires`.
        let staleUntil: NIODeadline
        /// Set by a hit; an entry with it set survives one eviction round (second chance), so a
        /// popular name is not pushed out by a stream of names asked once.
        var referenced = false

        init(wire: [UInt8], ttlOffsets: [Int], ttls: [UInt32], stored: NIODeadline, expires: NIODeadline,
             staleUntil: NIODeadline) {
            self.wire = wire
            self.ttlOffsets = ttlOffsets
            self.ttls = ttls
            self.stored = stored
            self.expires = expires
            self.staleUntil = staleUntil
        }
    }

    private var entries: [Key: Entry] = [:]
    /// Keys in insertion order, for evicting the oldest when full.
    private var order = CircularBuffer<Key>()
    private(set) var hits = 0
    private(set) var misses = 0
    private(set) var evictions = 0

    var count: Int { entries.count }

    /// A fresh entry for `key`, or nil (counted as a miss).
    func fresh(_ key: Key, now: NIODeadline) -> Entry? {
        if let entry = entries[key], entry.expires > now {
            hits += 1
            entry.referenced = true
            return entry
        }
        misses += 1
        return nil
    }

    /// An expired entry that may still be served stale.
    func stale(_ key: Key, now: NIODeadline) -> Entry? {
        guard let entry = entries[key], entry.staleUntil > now else { return nil }
        return entry
    }

    /// Stores `wire` (a reply ldns accepted) for `key` per the cache settings; answers that must
    /// not be cached (truncated, REFUSED, no TTL locations) are ignored.
    func store(_ key: Key, wire: ByteBuffer, reply: ReplyParser.Reply, settings: ResolverSettings.Cache, now: NIODeadline) {
        guard settings.maxEntries > 0, !reply.truncated, let offsets = reply.ttlOffsets else { return }
        let seconds: UInt32
        switch reply.rcode {
        case 0 where reply.answerCount > 0:
            guard let minimum = reply.minimumTTL else { return }
            seconds = min(max(minimum, settings.minTTL), settings.maxTTL)
        case 0, 3:
            // NODATA and NXDOMAIN (RFC 2308): min(SOA TTL, SOA MINIMUM); without a SOA, not cached.
            guard let negative = reply.negativeTTL else { return }
            seconds = min(max(negative, settings.minTTL), settings.maxTTL)
        case 2:
            seconds = settings.servfailTTL
        default:
            return
        }
        if seconds == 0 { return }
        let bytes = Array(wire.readableBytesView)
        let ttls = offsets.map { offset -> UInt32 in
            let ttl = UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
                | UInt32(bytes[offset + 3])
            return min(ttl, settings.maxTTL)
        }
        let expires = now + .seconds(Int64(seconds))
        let entry = Entry(wire: bytes, ttlOffsets: offsets, ttls: ttls, stored: now, expires: expires,
                          staleUntil: settings.serveStale ? expires + .seconds(Int64(settings.maxStaleSeconds)) : expires)
        if entries.updateValue(entry, forKey: key) == nil {
            order.append(key)
            // Second chance (CLOCK): the oldest entry goes unless it was hit since its last turn.
            var turns = 0
            while entries.count > settings.maxEntries, let oldest = order.popFirst() {
                turns += 1
                if let candidate = entries[oldest], candidate.referenced, turns <= order.count + 1 {
                    candidate.referenced = false
                    order.append(oldest)
                    continue
                }
                if entries.removeValue(forKey: oldest) != nil { evictions += 1 }
            }
        }
    }

    /// The entry as an answer to a client: its ID, its question as the client wrote it, TTLs
    /// counted down (or all `staleTTL` when serving stale).
    static func answer(_ entry: Entry, id: UInt16, question: UnsafeBufferPointer<UInt8>, now: NIODeadline,
                       staleTTL: UInt32? = nil, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: entry.wire.count)
        buffer.writeBytes(entry.wire)
        buffer.setInteger(id, at: 0)
        // Same name apart from letter case, so the same length: copy the client's spelling back.
        if 12 + question.count <= entry.wire.count { buffer.setBytes(question, at: 12) }
        let elapsed = UInt32(clamping: max(0, (now - entry.stored).nanoseconds / 1_000_000_000))
        for (index, offset) in entry.ttlOffsets.enumerated() {
            let ttl = staleTTL ?? (entry.ttls[index] > elapsed ? entry.ttls[index] - elapsed : 0)
            buffer.setInteger(ttl, at: offset)
        }
        return buffer
    }
}

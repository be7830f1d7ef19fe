import NIOCore

/// One cached answer: the reply image and when it was stored, expires and may be served stale.
///
/// Immutable but for `referenced`, which only the owning shard touches under its lock; that is
/// why it is `@unchecked Sendable`. A hit takes the entry out of the shard and builds the answer
/// outside the lock.
final class CacheEntry: @unchecked Sendable {
    let image: ReplyImage
    /// The highest TTL the entry's records are served with (`cache.max_ttl` when stored).
    let ttlCap: UInt32
    let stored: NIODeadline
    let expires: NIODeadline
    /// Until when it may be served stale (RFC 8767) after `expires`.
    let staleUntil: NIODeadline
    /// Set by a hit; an entry with it set survives one eviction round (second chance), so a
    /// popular name is not pushed out by a stream of names asked once.
    var referenced = false

    init(image: ReplyImage, ttlCap: UInt32, stored: NIODeadline, expires: NIODeadline, staleUntil: NIODeadline) {
        self.image = image
        self.ttlCap = ttlCap
        self.stored = stored
        self.expires = expires
        self.staleUntil = staleUntil
    }

    /// Whole seconds since the entry was stored.
    func elapsed(at now: NIODeadline) -> UInt32 {
        UInt32(clamping: max(0, (now - stored).nanoseconds / 1_000_000_000))
    }
}

import NIOCore

/// Stage 5: an answer from the process-wide cache (`AnswerCache`), for any loop's earlier miss.
enum CacheStage {
    @inline(__always)
    static func check(_ query: Query, key: CacheKey, _ context: QueryContext) -> StageResult {
        guard let entry = context.loop.cache.fresh(key, now: context.started) else {
            context.loop.metrics.cacheMisses.increment()
            return .next
        }
        context.loop.metrics.cacheHits.increment()
        return .answer(answer(entry, to: query, context), .cached, list: nil)
    }

    /// `entry` as the answer to `query`: its ID and spelling, TTLs counted down, the resolver's
    /// OPT when the client sent one.
    @inline(__always)
    static func answer(_ entry: CacheEntry, to query: Query, _ context: QueryContext) -> ByteBuffer {
        entry.image.answer(id: query.id, question: query.name, ttlCap: entry.ttlCap, elapsed: entry.elapsed(at: context.started),
                           opt: query.edns == nil ? nil : context.snapshot.parts.common.plainOPT,
                           dnssecOK: query.dnssecOK, allocator: context.allocator)
    }
}

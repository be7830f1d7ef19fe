import NIOCore

/// Stage 5: an answer from the process-wide cache (`AnswerCache`), for any loop's earlier miss,
/// judged by the response policy under the snapshot of the moment.
enum CacheStage {
    enum Checked {
        case miss
        case finish(StageResult)
        case follow(Follow)
    }

    @inline(__always)
    static func check(_ query: Query, key: CacheKey, _ context: QueryContext) -> Checked {
        guard let entry = context.loop.cache.fresh(key, now: context.started) else {
            context.loop.metrics.cacheMisses.increment()
            return .miss
        }
        context.loop.metrics.cacheHits.increment()
        switch ResponsePolicyStage.judge(entry.image, Asked(query), context) {
        case nil: return .finish(.answer(answer(entry, to: query, context), .cached, by: nil))
        case .finish(let rewritten): return .finish(rewritten)
        case .follow(let follow): return .follow(follow)
        }
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

import NIOCore

/// Stage 8: every answer fitted to what the client takes, by one rule (`Query.sizeLimit`: its
/// EDNS size capped by `edns_udp_size` over UDP, 512 without EDNS); an answer too large becomes
/// the resolver's one truncated reply (`MessageWriter.fit`), and its outcome `truncated`.
enum FitStage {
    @inline(__always)
    static func fit(_ reply: ByteBuffer, outcome: QueryOutcome, _ query: Query,
                    _ context: QueryContext) -> (ByteBuffer, QueryOutcome) {
        let fitted = MessageWriter.fit(reply, limit: context.sizeLimit(query), query: query,
                                       opt: context.snapshot.parts.common.plainOPT, allocator: context.allocator)
        return (fitted, fitted.readableBytes == reply.readableBytes ? outcome : .truncated)
    }

    /// The same for a query whose answer came later (`AwaitedQuery`).
    static func fit(_ reply: ByteBuffer, outcome: QueryOutcome, _ awaited: AwaitedQuery) -> (ByteBuffer, QueryOutcome) {
        let fitted = MessageWriter.fit(reply, limit: awaited.sizeLimit, id: awaited.id, flags: awaited.flags,
                                       question: awaited.question,
                                       opt: awaited.hasEDNS ? awaited.snapshot.parts.common.plainOPT : nil,
                                       dnssecOK: awaited.dnssecOK, allocator: awaited.allocator)
        return (fitted, fitted.readableBytes == reply.readableBytes ? outcome : .truncated)
    }
}

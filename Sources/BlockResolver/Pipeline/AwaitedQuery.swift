import NIOCore

/// A query waiting for the upstream: everything its answer needs, copied out of the parsed
/// packet (which is gone by then), and where the answer goes. Lives on the query's own loop.
struct AwaitedQuery: @unchecked Sendable {
    let asked: Asked
    let sizeLimit: Int
    /// Where the query came from and what it is answered with; its loop is the only place this
    /// value is used (`LoopContext` is confined to it).
    let context: QueryContext
    let later: LaterReply

    var id: UInt16 { asked.id }
    var flags: UInt16 { asked.flags }
    /// The question as the client wrote it.
    var question: Question { asked.question }
    var hasEDNS: Bool { asked.hasEDNS }
    var dnssecOK: Bool { asked.dnssecOK }
    var snapshot: PolicySnapshot { context.snapshot }
    var loop: LoopContext { context.loop }
    var allocator: ByteBufferAllocator { context.allocator }

    init(_ query: Query, _ context: QueryContext) {
        asked = Asked(query)
        sizeLimit = context.sizeLimit(query)
        self.context = context
        later = LaterReply()
    }

    /// `image` as this client's answer: its ID and spelling, TTLs at most `ttlCap` and counted
    /// down by `elapsed`, the resolver's OPT (`opt`, or the plain one) when it sent one.
    func answer(_ image: ReplyImage, ttlCap: UInt32 = .max, elapsed: UInt32 = 0, staleTTL: UInt32? = nil,
                opt: OPTTemplate? = nil) -> ByteBuffer {
        question.name.withUnsafeBufferPointer { name in
            image.answer(id: id, question: name, ttlCap: ttlCap, elapsed: elapsed, staleTTL: staleTTL,
                         opt: hasEDNS ? opt ?? snapshot.parts.common.plainOPT : nil, dnssecOK: dnssecOK,
                         allocator: allocator)
        }
    }

    /// The last stages for a later answer: fit it to the client, record its outcome, send it.
    func finish(_ result: StageResult) {
        switch result {
        case .next:
            preconditionFailure("a forwarded query ends in an answer or in silence")
        case .silent(let outcome, let decider):
            loop.observe(outcome, transport: context.transport, started: context.started, reply: nil,
                         details: QueryDetails(client: context.client, name: question.name, type: question.type,
                                               decider: decider, policy: snapshot.policy))
            later.complete(nil)
        case .answer(let reply, let outcome, let decider):
            let (fitted, outcome) = FitStage.fit(reply, outcome: outcome, self)
            loop.observe(outcome, transport: context.transport, started: context.started, reply: fitted,
                         details: QueryDetails(client: context.client, name: question.name, type: question.type,
                                               decider: decider, policy: snapshot.policy))
            later.complete(fitted)
        }
    }
}

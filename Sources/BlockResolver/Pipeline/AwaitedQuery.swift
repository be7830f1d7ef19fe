import NIOCore

/// A query waiting for the upstream: everything its answer needs, copied out of the parsed
/// packet (which is gone by then), and where the answer goes. Lives on the query's own loop.
struct AwaitedQuery: @unchecked Sendable {
    let id: UInt16
    let flags: UInt16
    /// The question as the client wrote it.
    let question: Question
    let hasEDNS: Bool
    let dnssecOK: Bool
    let sizeLimit: Int
    /// Where the query came from and what it is answered with; its loop is the only place this
    /// value is used (`LoopContext` is confined to it).
    let context: QueryContext
    let later: LaterReply

    var snapshot: PolicySnapshot { context.snapshot }
    var loop: LoopContext { context.loop }
    var allocator: ByteBufferAllocator { context.allocator }

    init(_ query: Query, _ context: QueryContext) {
        id = query.id
        flags = query.replyFlags
        question = Question(query)
        hasEDNS = query.edns != nil
        dnssecOK = query.dnssecOK
        sizeLimit = context.sizeLimit(query)
        self.context = context
        later = LaterReply()
    }

    /// The last stages for a later answer: fit it to the client, record its outcome, send it.
    func finish(_ reply: ByteBuffer, outcome: QueryOutcome) {
        let (fitted, outcome) = FitStage.fit(reply, outcome: outcome, self)
        loop.observe(outcome, transport: context.transport, started: context.started, reply: fitted,
                     details: QueryDetails(client: context.client, name: question.name, type: question.type, list: nil))
        later.complete(fitted)
    }
}

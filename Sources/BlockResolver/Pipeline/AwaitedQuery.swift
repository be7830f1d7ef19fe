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
    let transport: Transport
    let client: SocketAddress?
    let started: NIODeadline
    let snapshot: PolicySnapshot
    /// Confined to its loop (`LoopContext`); this value is only used there.
    let loop: LoopContext
    let allocator: ByteBufferAllocator
    let later: LaterReply

    init(_ query: Query, _ context: QueryContext) {
        id = query.id
        flags = query.replyFlags
        question = Question(query)
        hasEDNS = query.edns != nil
        dnssecOK = query.dnssecOK
        sizeLimit = context.sizeLimit(query)
        transport = context.transport
        client = context.client
        started = context.started
        snapshot = context.snapshot
        loop = context.loop
        allocator = context.allocator
        later = LaterReply()
    }

    /// The last stages for a later answer: fit it to the client, record its outcome, send it.
    func finish(_ reply: ByteBuffer, outcome: QueryOutcome) {
        let (fitted, outcome) = FitStage.fit(reply, outcome: outcome, self)
        loop.observe(outcome, transport: transport, started: started, reply: fitted,
                     details: QueryDetails(client: client, name: question.name, type: question.type, list: nil))
        later.complete(fitted)
    }
}

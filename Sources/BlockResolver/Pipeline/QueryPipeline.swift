import Logging
import NIOCore
import ResolverConfig

/// The way of every message through the resolver, in the order written down here and nowhere
/// else (docs/ARCHITECTURE.md draws it):
///
///     parse (Wire: QueryParser)            malformed → FORMERR / NOTIMP, responses dropped
///  1. AccessStage                          access.allow, rate limit
///  2. EDNSVersionStage                     EDNS version > 0 → BADVERS
///  3. QueryPolicyStage                     the question name: block / allow / monitor
///  4. AnyStage                             RFC 8482
///  5. CacheStage                           process-wide cache
///  6. ForwardStage                         upstreams; identical misses share one query
///     (response policy: its seat is in ForwardStage, between reply and finish)
///  7. FitStage                             the client's size limit, TC
///     record (LoopContext.observe)         the outcome, once per query
///
/// Each stage is a concrete type called directly (no dynamic dispatch per query). Shared by
/// every listener and event loop; the per-loop state comes in the caller's `LoopContext`.
final class QueryPipeline: Sendable {
    /// What the listener does with a message.
    enum Response {
        case none
        case now(ByteBuffer)
        /// Forwarded; the reply comes on the listener's event loop (nil: send nothing).
        case later(LaterReply)
    }

    let store: PolicyStore
    let policy: QueryPolicyStage
    let forward: ForwardStage

    init(store: PolicyStore, logger: Logger, maxInFlight: Int = 10_000) {
        self.store = store
        policy = QueryPolicyStage(logger: logger)
        forward = ForwardStage(maxInFlight: maxInFlight, logger: logger)
    }

    /// Hits on monitor-mode lists (served at /monitor).
    var monitor: MonitorCounter { policy.monitor }

    func respond(to message: ByteBuffer, transport: Transport, client: SocketAddress?, loop: LoopContext,
                 allocator: ByteBufferAllocator) -> Response {
        let started = NIODeadline.now()
        return message.withUnsafeReadableBytes { bytes in
            QueryParser.parse(bytes) { parsed -> Response in
                switch parsed {
                case .drop:
                    loop.observe(.dropped, transport: transport, started: started, reply: nil, details: nil)
                    return .none
                case .headerOnly(let id, let flags, let rcode):
                    guard let wire = HeaderOnlyMessage.wire(id: id, echoedFlags: flags, rcode: rcode) else { return .none }
                    let reply = allocator.buffer(bytes: wire)
                    loop.observe(rcode == DNSHeader.rcodeNOTIMP ? .notimp : .formerr, transport: transport,
                                 started: started, reply: reply,
                                 details: QueryDetails(client: client, name: [0], type: 0, list: nil))
                    return .now(reply)
                case .query(let query):
                    let context = QueryContext(transport: transport, client: client, started: started,
                                               snapshot: loop.snapshot ?? store.current, loop: loop, allocator: allocator)
                    return answer(query, context)
                }
            }
        }
    }

    /// Stages 1 to 6, then `finish` (stage 7 and the record) for an answer made at once.
    @inline(__always)
    private func answer(_ query: Query, _ context: QueryContext) -> Response {
        var result = AccessStage.check(query, context)
        if case .next = result { result = EDNSVersionStage.check(query, context) }
        guard case .next = result else { return finish(result, query, context) }
        let key: CacheKey
        switch policy.decide(query, context) {
        case .done(let decided): return finish(decided, query, context)
        case .pass(let passed): key = passed
        }
        result = AnyStage.check(query, context)
        if case .next = result { result = CacheStage.check(query, key: key, context) }
        guard case .next = result else { return finish(result, query, context) }
        switch forward.forward(query, key: key, context) {
        case .now(let answered): return finish(answered, query, context)
        case .later(let later): return .later(later)  // finished by `AwaitedQuery.finish`
        }
    }

    /// Stage 7 and the record of a query answered (or dropped) at once.
    @inline(__always)
    private func finish(_ result: StageResult, _ query: Query, _ context: QueryContext) -> Response {
        let reply: ByteBuffer?
        let outcome: QueryOutcome
        let list: Int?
        switch result {
        case .next:
            preconditionFailure("every query ends in an answer or in silence")  // `answer` never passes .next
        case .silent(let silent, let index):
            (reply, outcome, list) = (nil, silent, index)
        case .answer(let buffer, let answered, let index):
            let fitted = FitStage.fit(buffer, outcome: answered, query, context)
            (reply, outcome, list) = (fitted.0, fitted.1, index)
        }
        context.loop.observe(outcome, transport: context.transport, started: context.started, reply: reply,
                             details: QueryDetails(client: context.client, name: Array(query.name), type: query.type,
                                                   list: list.map { context.snapshot.policy.lists[$0].settings.name }))
        return reply.map { .now($0) } ?? .none
    }
}

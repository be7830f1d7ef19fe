import Logging
import NIOCore
import ResolverConfig

/// The way of every message through the resolver, in the order written down here and nowhere
/// else (docs/ARCHITECTURE.md draws it):
///
///     parse (Wire: QueryParser)            malformed → FORMERR / NOTIMP, responses dropped
///     NotifyStage                          NOTIFY from a listed primary → a transfer check
///  1. AccessStage                          access.allow, rate limit
///  2. EDNSVersionStage                     EDNS version > 0 → BADVERS
///  3. QueryPolicyStage                     the question name: block / allow / monitor
///  4. AnyStage                             RFC 8482
///  5. CacheStage                           process-wide cache
///  6. ForwardStage                         upstreams; identical misses share one query
///     ResponsePolicyStage                  the answer's chain and addresses, on a cache hit
///                                          and on the upstream's reply; a policy CNAME is
///                                          followed through the cache and upstreams (Follow)
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
    let notify: NotifyStage

    init(store: PolicyStore, logger: Logger, maxInFlight: Int = 10_000) {
        self.store = store
        notify = NotifyStage(logger: logger)
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
                                 details: QueryDetails(client: client, name: [0], type: 0, decider: nil, policy: nil))
                    return .now(reply)
                case .notify:
                    // Before access.allow: a primary need not be a client; NotifyStage checks it.
                    let settings = (loop.snapshot ?? store.current).settings
                    return notify.answer(bytes, client: client, settings: settings).map { .now(allocator.buffer(bytes: $0)) } ?? .none
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
        var context = context
        switch policy.decide(query, context) {
        case .done(let decided): return finish(decided, query, context)
        case .follow(let follow): return respond(forward.follow(follow, AwaitedQuery(query, context)), query, context)
        case .pass(let passed, let limit):
            key = passed
            context.responseLimit = limit
        }
        result = AnyStage.check(query, context)
        guard case .next = result else { return finish(result, query, context) }
        switch CacheStage.check(query, key: key, context) {
        case .miss: break
        case .finish(let cached): return finish(cached, query, context)
        case .follow(let follow): return respond(forward.follow(follow, AwaitedQuery(query, context)), query, context)
        }
        return respond(forward.forward(query, key: key, context), query, context)
    }

    @inline(__always)
    private func respond(_ forwarded: ForwardStage.Forwarded, _ query: Query, _ context: QueryContext) -> Response {
        switch forwarded {
        case .now(let answered): return finish(answered, query, context)
        case .later(let later): return .later(later)  // finished by `AwaitedQuery.finish`
        }
    }

    /// Stage 7 and the record of a query answered (or dropped) at once.
    @inline(__always)
    private func finish(_ result: StageResult, _ query: Query, _ context: QueryContext) -> Response {
        let reply: ByteBuffer?
        let outcome: QueryOutcome
        let decider: Decider?
        switch result {
        case .next:
            preconditionFailure("every query ends in an answer or in silence")  // `answer` never passes .next
        case .silent(let silent, let by):
            (reply, outcome, decider) = (nil, silent, by)
        case .answer(let buffer, let answered, let by):
            let fitted = FitStage.fit(buffer, outcome: answered, query, context)
            (reply, outcome, decider) = (fitted.0, fitted.1, by)
        }
        context.loop.observe(outcome, transport: context.transport, started: context.started, reply: reply,
                             details: QueryDetails(client: context.client, name: Array(query.name), type: query.type,
                                                   decider: decider, policy: context.snapshot.policy))
        return reply.map { .now($0) } ?? .none
    }
}

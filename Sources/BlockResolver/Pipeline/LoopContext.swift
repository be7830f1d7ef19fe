import Foundation
import NIOCore
import ResolverConfig

/// The state of one event loop that the pipeline uses: its rate-limit buckets, its sockets for
/// upstream queries, its counters and query-log buffer, and its own references to the policy
/// and the upstream pool in force. The answer cache is shared by every loop (`AnswerCache`).
///
/// Concurrency model: confined to `eventLoop`. Every handler that holds a context runs on that
/// loop, and so does every callback that touches it, so nothing here needs a lock. That is why
/// it is `@unchecked Sendable`: the compiler cannot see the confinement, the code keeps it.
final class LoopContext: @unchecked Sendable {
    let eventLoop: EventLoop
    let cache: AnswerCache
    let limiter = RateLimiter()
    /// UDP sockets for this loop's upstream queries.
    let upstreamSockets: UpstreamSocketPool
    /// This loop's counters and answer-time histogram.
    let metrics: LoopMetrics
    /// The query log and this loop's buffer in it, when the log is on.
    let queryLog: QueryLog?
    let logBuffer: QueryLog.Buffer?
    /// The policy this loop answers with. Each loop keeps its own reference, replaced on the loop
    /// itself when the store publishes, so a query reads it with no atomic operation at all
    /// (an atomic reference load shared by the loops would bounce one cache line between cores).
    private(set) var snapshot: PolicySnapshot?
    /// The upstream pool, kept the same way (`UpstreamSet` publishes a new one after a reload that
    /// changed the upstreams).
    private(set) var upstreams: UpstreamPool?

    init(eventLoop: EventLoop, index: Int, cache: AnswerCache, metrics: ResolverMetrics, queryLog: QueryLog?) {
        self.eventLoop = eventLoop
        self.cache = cache
        self.upstreamSockets = UpstreamSocketPool(eventLoop: eventLoop, gauges: metrics.upstreamSockets(loop: index))
        self.metrics = metrics.loop(index)
        self.queryLog = queryLog
        self.logBuffer = queryLog?.buffer(forLoop: index)
    }

    /// Takes `snapshot` on this loop, unless a later one is already there.
    func adopt(_ snapshot: PolicySnapshot) {
        eventLoop.execute { [self] in
            if (self.snapshot?.sequence ?? -1) < snapshot.sequence { self.snapshot = snapshot }
        }
    }

    /// Takes `pool` on this loop (the reload task publishes one at a time, in order).
    func adopt(_ pool: UpstreamPool) {
        upstreamSockets.use(outgoing: pool.outgoing)
        eventLoop.execute { [self] in self.upstreams = pool }
    }

    /// Counts an answered (or dropped) query and logs it when the query log wants it: the one
    /// place every query's outcome is recorded.
    @inline(__always)
    func observe(_ outcome: QueryOutcome, transport: Transport, started: NIODeadline,
                 reply: ByteBuffer?, details: @autoclosure () -> QueryDetails?) {
        let elapsed = (NIODeadline.now() - started).nanoseconds
        metrics.count(outcome, transport: transport, nanoseconds: elapsed)
        guard let queryLog, let logBuffer, queryLog.wants(outcome), let details = details() else { return }
        let rcode = reply.flatMap { DNSHeader.rcode($0) }
        logBuffer.append(QueryLog.Record(time: Date().timeIntervalSince1970, client: details.client, transport: transport,
                                         name: details.name, type: details.type, outcome: outcome, list: details.list,
                                         trigger: details.decider?.trigger.rawValue,
                                         matched: details.decider.map {
                                             $0.matchedText(question: details.name, clientText: details.client?.ipAddress ?? "-")
                                         },
                                         rcode: rcode, latencyMicroseconds: elapsed / 1000))
    }
}

/// What the query log records of a query besides its outcome.
struct QueryDetails {
    let client: SocketAddress?
    let name: [UInt8]
    let type: UInt16
    /// The entry that decided, if a list did.
    let decider: Decider?
    let list: String?

    init(client: SocketAddress?, name: [UInt8], type: UInt16, decider: Decider?, policy: CompiledPolicy?) {
        self.client = client
        self.name = name
        self.type = type
        self.decider = decider
        list = decider.flatMap { policy?.lists[$0.list].settings.name }
    }
}

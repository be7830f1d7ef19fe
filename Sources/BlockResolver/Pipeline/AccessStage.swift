import NIOCore
import ResolverConfig

/// Stage 1: refuse early, before any work. A client outside `access.allow` gets REFUSED with
/// EDE 18; a UDP client over its network's rate limit gets a truncated reply (it may come back
/// over TCP, which costs a spoofer its source address) or nothing, per `rate_limit.action`.
enum AccessStage {
    @inline(__always)
    static func check(_ query: Query, _ context: QueryContext) -> StageResult {
        // Read through the snapshot field by field: a copy of the whole settings value would
        // retain every string and array in it on each query.
        let snapshot = context.snapshot
        if !isAllowed(context.client, snapshot.settings.accessAllow) {
            return .answer(MessageWriter.empty(query, rcode: DNSHeader.rcodeREFUSED, opt: snapshot.parts.common.prohibitedOPT,
                                               allocator: context.allocator), .refused, by: nil)
        }
        let qps = snapshot.settings.rateLimit.perClientQPS
        if context.transport.isDatagram && qps > 0
            && !context.loop.limiter.allow(context.client, qps: qps, burst: snapshot.settings.rateLimit.burst,
                                           now: context.started) {
            switch snapshot.settings.rateLimit.action {
            case .drop:
                return .silent(.ratelimited, by: nil)
            case .truncate:
                return .answer(MessageWriter.truncated(query, opt: snapshot.parts.common.plainOPT,
                                                       allocator: context.allocator), .ratelimited, by: nil)
            }
        }
        return .next
    }

    /// Whether `client` is inside one of the allowed blocks (a missing address is not).
    static func isAllowed(_ client: SocketAddress?, _ allowed: [CIDR]) -> Bool {
        QueryContext.withAddress(of: client) { bytes in
            guard let bytes else { return false }
            return allowed.contains { $0.contains(bytes) }
        }
    }
}

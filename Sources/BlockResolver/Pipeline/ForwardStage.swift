import Atomics
import Logging
import NIOCore
import ResolverConfig

/// Stage 6: a miss goes to the upstreams. Identical misses from any loop share one upstream
/// query (`AnswerCache.join`); its reply is stored and relayed to each waiting client on that
/// client's own loop, from the same image a later cache hit uses. When every upstream fails an
/// expired entry is served stale (TTL 30, EDE 3) if `cache.serve_stale` allows, else SERVFAIL
/// with EDE 22.
///
/// The response-policy stage (CNAME targets and addresses of the answer, judged again) will sit
/// between the upstream's reply and `AwaitedQuery.finish`, for relayed and cached answers alike.
final class ForwardStage: Sendable {
    /// Upstream queries not yet answered, so that shutdown can wait for them and a flood of
    /// queries to a slow upstream cannot use up every file descriptor. Touched once per
    /// upstream query, never by a cached or blocked answer.
    let inFlight = ManagedAtomic<Int>(0)
    /// Upstream queries in flight beyond which new misses get SERVFAIL (or stale) at once.
    let maxInFlight: Int
    let logger: Logger

    /// TTL of answers served stale (RFC 8767).
    static let staleTTL: UInt32 = 30

    struct Overloaded: Error, CustomStringConvertible {
        var description: String { "too many upstream queries in flight" }
    }

    init(maxInFlight: Int, logger: Logger) {
        self.maxInFlight = maxInFlight
        self.logger = logger
    }

    enum Forwarded {
        /// Another loop's upstream query answered it meanwhile: the cached answer, now.
        case now(StageResult)
        /// The answer comes on the query's loop, when the upstream answers.
        case later(LaterReply)
    }

    /// Forwards `query`, cached under `key`.
    func forward(_ query: Query, key: CacheKey, _ context: QueryContext) -> Forwarded {
        let awaited = AwaitedQuery(query, context)
        let waiter = PendingFetch.Waiter(eventLoop: context.loop.eventLoop) { [logger] result in
            let (reply, outcome) = Self.reply(to: awaited, key: key, result: result, logger: logger)
            awaited.finish(reply, outcome: outcome)
        }
        let cache = context.loop.cache
        switch cache.join(key, now: context.started, waiter: waiter) {
        case .hit(let entry):
            return .now(.answer(CacheStage.answer(entry, to: query, context), .cached, list: nil))
        case .joined:
            return .later(awaited.later)
        case .first:
            break
        }
        let overloaded = inFlight.loadThenWrappingIncrement(ordering: .relaxed) >= maxInFlight
        guard !overloaded, let upstreams = context.loop.upstreams else {
            // Everyone waiting for this key (this client, and any that joined just now) gets the failure.
            inFlight.wrappingDecrement(ordering: .relaxed)
            cache.complete(key, with: .failure(Overloaded()), settings: context.snapshot.settings.cache, now: .now())
            return .later(awaited.later)
        }
        let loop = context.loop
        let settings = context.snapshot.settings.cache
        upstreams.forward(awaited.question, dnssecOK: query.dnssecOK, checkingDisabled: query.checkingDisabled,
                          on: loop.eventLoop, sockets: loop.upstreamSockets, logger: logger) { [inFlight] result in
            inFlight.wrappingDecrement(ordering: .relaxed)
            let evicted = loop.cache.complete(key, with: result, settings: settings, now: .now())
            if evicted > 0 { loop.metrics.cacheEvictions.increment(by: Int64(evicted)) }
        }
        return .later(awaited.later)
    }

    /// What a waiting client gets for the upstream's `result`.
    private static func reply(to awaited: AwaitedQuery, key: CacheKey, result: Result<ReplyParser.Reply, Error>,
                              logger: Logger) -> (ByteBuffer, QueryOutcome) {
        let common = awaited.snapshot.parts.common
        switch result {
        case .success(let reply):
            let answer = awaited.question.name.withUnsafeBufferPointer { name in
                reply.image.answer(id: awaited.id, question: name, opt: awaited.hasEDNS ? common.plainOPT : nil,
                                   dnssecOK: awaited.dnssecOK, allocator: awaited.allocator)
            }
            return (answer, .forwarded)
        case .failure(let error):
            let name = DomainName.presentation(ofWire: awaited.question.name)
            if awaited.snapshot.settings.cache.serveStale, let entry = awaited.loop.cache.stale(key, now: .now()) {
                logger.debug("serving stale", metadata: ["name": "\(name)"])
                let stale = awaited.question.name.withUnsafeBufferPointer { question in
                    entry.image.answer(id: awaited.id, question: question, staleTTL: staleTTL,
                                       opt: awaited.hasEDNS ? common.staleOPT : nil, dnssecOK: awaited.dnssecOK,
                                       allocator: awaited.allocator)
                }
                return (stale, .stale)
            }
            logger.debug("upstreams failed", metadata: ["name": "\(name)", "error": "\(error)"])
            var servfail = awaited.allocator.buffer(capacity: DNSHeader.size + awaited.question.name.count + 4 + 40)
            awaited.question.name.withUnsafeBufferPointer { question in
                MessageWriter.writeEmpty(id: awaited.id, flags: awaited.flags, rcode: DNSHeader.rcodeSERVFAIL,
                                         name: question, type: awaited.question.type, class: awaited.question.class,
                                         opt: awaited.hasEDNS ? common.unreachableOPT : nil,
                                         dnssecOK: awaited.dnssecOK, into: &servfail)
            }
            return (servfail, .servfail)
        }
    }
}

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
/// Every answer it gets is judged by `ResponsePolicyStage` before it is sent, and a policy CNAME
/// is followed (`follow`) through the same cache and upstream queries.
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

    /// Forwards `query`, cached under `key`; the answer is judged by the response policy.
    func forward(_ query: Query, key: CacheKey, _ context: QueryContext) -> Forwarded {
        let awaited = AwaitedQuery(query, context)
        let logger = self.logger
        return fetch(key, asking: awaited.question, for: awaited, cached: { entry in
            Self.judged(entry.image, awaited) {
                .answer(awaited.answer(entry.image, ttlCap: entry.ttlCap, elapsed: entry.elapsed(at: .now())), .cached, by: nil)
            }
        }, replied: { result in
            switch result {
            case .success(let reply):
                return Self.judged(reply.image, awaited) { .answer(awaited.answer(reply.image), .forwarded, by: nil) }
            case .failure(let error):
                return Self.failed(awaited, key: key, error: error, logger: logger)
            }
        })
    }

    /// Resolves a policy CNAME's target for `awaited`, then answers it with the CNAME and the
    /// target's answer (not judged again: RPZ draft, section 6).
    func follow(_ follow: Follow, _ awaited: AwaitedQuery) -> Forwarded {
        let question = follow.question(awaited.asked)
        let key = CacheKey(name: question.name, type: question.type, class: question.class, dnssecOK: awaited.dnssecOK)
        let answer: @Sendable (ReplyImage?) -> ResponsePolicyStage.Continuation = { image in
            ResponsePolicyStage.Continuation.finish(follow.answer(image, awaited.asked, snapshot: awaited.snapshot,
                                                                  allocator: awaited.allocator))
        }
        return fetch(key, asking: question, for: awaited, cached: { entry in answer(entry.image) }, replied: { result in
            switch result {
            case .success(let reply): return answer(reply.image)
            case .failure: return answer(nil)
            }
        })
    }

    /// The response policy's word on `image` for `awaited`: `kept` when it lets the answer through.
    private static func judged(_ image: ReplyImage, _ awaited: AwaitedQuery,
                               kept: () -> StageResult) -> ResponsePolicyStage.Continuation {
        ResponsePolicyStage.judge(image, awaited.asked, awaited.context) ?? .finish(kept())
    }

    /// Asks for `question` (cached under `key`) on behalf of `awaited`: from the cache if another
    /// loop's query answered it meanwhile, by joining the upstream query in flight for the key,
    /// or by sending one. `cached` and `replied` say what the answer is then.
    private func fetch(_ key: CacheKey, asking question: Question, for awaited: AwaitedQuery,
                       cached: (CacheEntry) -> ResponsePolicyStage.Continuation,
                       replied: @escaping @Sendable (Result<ReplyParser.Reply, Error>) -> ResponsePolicyStage.Continuation)
        -> Forwarded {
        let context = awaited.context
        let waiter = PendingFetch.Waiter(eventLoop: context.loop.eventLoop) { [self] result in
            resume(replied(result), awaited)
        }
        let cache = context.loop.cache
        switch cache.join(key, now: context.started, waiter: waiter) {
        case .hit(let entry):
            switch cached(entry) {
            case .finish(let result): return .now(result)
            case .follow(let next): return follow(next, awaited)
            }
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
        upstreams.forward(question, dnssecOK: awaited.dnssecOK, checkingDisabled: awaited.flags & DNSHeader.flagCD != 0,
                          on: loop.eventLoop, sockets: loop.upstreamSockets, logger: logger) { [inFlight] result in
            inFlight.wrappingDecrement(ordering: .relaxed)
            let evicted = loop.cache.complete(key, with: result, settings: settings, now: .now())
            if evicted > 0 { loop.metrics.cacheEvictions.increment(by: Int64(evicted)) }
        }
        return .later(awaited.later)
    }

    /// Carries a later answer on: finishes it, or follows a policy CNAME first.
    private func resume(_ continuation: ResponsePolicyStage.Continuation, _ awaited: AwaitedQuery) {
        switch continuation {
        case .finish(let result):
            awaited.finish(result)
        case .follow(let next):
            if case .now(let result) = follow(next, awaited) { awaited.finish(result) }
        }
    }

    /// What a waiting client gets when every upstream failed: stale (judged like any answer) or
    /// SERVFAIL.
    private static func failed(_ awaited: AwaitedQuery, key: CacheKey, error: Error,
                               logger: Logger) -> ResponsePolicyStage.Continuation {
        let common = awaited.snapshot.parts.common
        let name = DomainName.presentation(ofWire: awaited.question.name)
        if awaited.snapshot.settings.cache.serveStale, let entry = awaited.loop.cache.stale(key, now: .now()) {
            logger.debug("serving stale", metadata: ["name": "\(name)"])
            return judged(entry.image, awaited) {
                .answer(awaited.answer(entry.image, staleTTL: staleTTL, opt: common.staleOPT), .stale, by: nil)
            }
        }
        logger.debug("upstreams failed", metadata: ["name": "\(name)", "error": "\(error)"])
        var servfail = awaited.allocator.buffer(capacity: DNSHeader.size + awaited.question.name.count + 4 + 40)
        awaited.question.name.withUnsafeBufferPointer { question in
            MessageWriter.writeEmpty(id: awaited.id, flags: awaited.flags, rcode: DNSHeader.rcodeSERVFAIL,
                                     name: question, type: awaited.question.type, class: awaited.question.class,
                                     opt: awaited.hasEDNS ? common.unreachableOPT : nil,
                                     dnssecOK: awaited.dnssecOK, into: &servfail)
        }
        return .finish(.answer(servfail, .servfail, by: nil))
    }
}

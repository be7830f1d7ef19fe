import Atomics
import Logging
import NIOCore
import ResolverConfig

/// The transport-independent part of answering one message, in DESIGN.md's order: parse, access
/// and rate limit, policy, then cache and upstreams. Shared by every listener and event loop; the
/// per-loop state (cache, pending forwards, rate buckets) comes in the caller's `LoopContext`.
final class QueryResolver: Sendable {
    enum Transport: String, Sendable { case udp, tcp }

    /// What the listener does with a message.
    enum Response {
        case none
        case now(ByteBuffer)
        /// Forwarded; the future completes on the listener's event loop (nil: send nothing).
        case later(EventLoopFuture<ByteBuffer?>)
    }

    let store: PolicyStore
    /// Hits on monitor-mode lists.
    let monitor = MonitorCounter()
    let logger: Logger
    /// Upstream queries not yet answered, so that shutdown can wait for them and a flood of
    /// queries to a slow upstream cannot use up every file descriptor.
    let inFlight = ManagedAtomic<Int>(0)
    /// Forwards in flight beyond which new ones get SERVFAIL at once (each holds a socket).
    let maxInFlight: Int

    static let typeANY: UInt16 = 255
    /// TTL of answers served stale (RFC 8767).
    static let staleTTL: UInt32 = 30

    init(store: PolicyStore, logger: Logger, maxInFlight: Int = 10_000) {
        self.store = store
        self.logger = logger
        self.maxInFlight = maxInFlight
    }

    func respond(to message: ByteBuffer, transport: Transport, client: SocketAddress?, context: LoopContext,
                 allocator: ByteBufferAllocator) -> Response {
        let started = NIODeadline.now()
        return message.withUnsafeReadableBytes { bytes in
            QueryParser.parse(bytes) { outcome -> Response in
                switch outcome {
                case .drop:
                    context.observe(.dropped, transport: transport, started: started, reply: nil, details: nil)
                    return .none
                case .headerOnly(let id, let flags, let rcode):
                    guard let wire = HeaderOnlyMessage.wire(id: id, echoedFlags: flags, rcode: rcode) else { return .none }
                    let reply = allocator.buffer(bytes: wire)
                    context.observe(rcode == 4 ? .notimp : .formerr, transport: transport, started: started, reply: reply,
                                    details: QueryDetails(client: client, name: [0], type: 0, list: nil))
                    return .now(reply)
                case .query(let query):
                    let (response, outcome, list) = answer(query, transport: transport, client: client, context: context,
                                                           allocator: allocator, started: started)
                    switch response {
                    case .none, .now:
                        var reply: ByteBuffer? = nil
                        if case .now(let buffer) = response { reply = buffer }
                        context.observe(outcome, transport: transport, started: started, reply: reply,
                                        details: QueryDetails(client: client, name: Array(query.name), type: query.type,
                                                              list: list.map { (context.snapshot ?? self.store.current)
                                                                  .policy.lists[$0].settings.name }))
                    case .later:
                        break  // observed when the upstream answers (see `forward`)
                    }
                    return response
                }
            }
        }
    }

    private func answer(_ query: Query, transport: Transport, client: SocketAddress?, context: LoopContext,
                        allocator: ByteBufferAllocator, started: NIODeadline) -> (Response, QueryOutcome, Int?) {
        let snapshot = context.snapshot ?? store.current
        let settings = snapshot.settings
        if !Self.isAllowed(client, settings.accessAllow) {
            return (.now(empty(query, rcode: 5, opt: snapshot.parts.common.prohibitedOPT, snapshot: snapshot,
                               allocator: allocator)), .refused, nil)
        }
        if transport == .udp && settings.rateLimit.perClientQPS > 0
            && !context.limiter.allow(client, qps: settings.rateLimit.perClientQPS, burst: settings.rateLimit.burst,
                                      now: started) {
            switch settings.rateLimit.action {
            case .drop: return (.none, .ratelimited, nil)
            case .truncate: return (.now(Verdict.truncated(query, snapshot: snapshot, allocator: allocator)), .ratelimited, nil)
            }
        }
        let policy = snapshot.policy
        var key: AnswerCache.Key? = nil
        let match: PolicyMatch? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: query.name.count) { lower in
            for index in 0..<query.name.count { lower[index] = asciiLower(query.name[index]) }
            let name = UnsafeBufferPointer(lower)
            if policy.hasMonitorLists { recordMonitorHits(name, snapshot: snapshot, client: client, context: context) }
            let match = policy.decide(name, active: snapshot.active)
            if match == nil || policy.lists[match!.listIndex].settings.action != .block {
                key = AnswerCache.Key(name: Array(name), type: query.type, class: query.class,
                                      dnssecOK: query.edns?.dnssecOK ?? false)
            }
            return match
        }
        switch Verdict.decide(query, match: match, snapshot: snapshot, transport: transport, allocator: allocator) {
        case .drop:
            return (.none, .dropped, match?.listIndex)
        case .answer(let buffer):
            guard let match else { return (.now(buffer), .blocked, nil) }
            context.metrics.blocked(listIndex: match.listIndex, generation: snapshot.generation,
                                    list: policy.lists[match.listIndex].settings)
            return (.now(buffer), Self.isTruncated(buffer) ? .truncated : .blocked, match.listIndex)
        case .forward:
            break
        }
        if query.type == Self.typeANY {
            // RFC 8482: a minimal answer instead of everything the name has (no amplification).
            var buffer = allocator.buffer(capacity: 12 + query.name.count + 4 + 30 + 11)
            AnswerWriter.writeRecords(query, [snapshot.parts.common.anyHINFO],
                                      opt: query.edns == nil ? nil : snapshot.parts.common.plainOPT, into: &buffer)
            return (.now(buffer), .any, nil)
        }
        let limit = transport == .udp ? Self.udpLimit(query, settings: settings) : Int(UInt16.max)
        let cacheKey = key ?? AnswerCache.Key(name: Array(query.name).map(asciiLower), type: query.type,
                                               class: query.class, dnssecOK: query.edns?.dnssecOK ?? false)
        if let entry = context.cache.fresh(cacheKey, now: started) {
            context.metrics.cacheHits.increment()
            let reply = AnswerCache.answer(entry, id: query.id, question: query.name, now: started, allocator: allocator)
            let fitted = fit(reply, query: query, limit: limit, snapshot: snapshot, allocator: allocator)
            return (.now(fitted), fitted.readableBytes == reply.readableBytes ? .cached : .truncated, nil)
        }
        context.metrics.cacheMisses.increment()
        return forward(query, key: cacheKey, limit: limit, snapshot: snapshot, context: context, allocator: allocator,
                       transport: transport, client: client, started: started)
    }

    static func isTruncated(_ buffer: ByteBuffer) -> Bool {
        (buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) ?? 0) & AnswerWriter.flagTC != 0
    }

    /// Answers from the upstreams, sharing one upstream query among identical misses on this loop.
    private func forward(_ query: Query, key: AnswerCache.Key, limit: Int, snapshot: PolicySnapshot,
                         context: LoopContext, allocator: ByteBufferAllocator, transport: Transport,
                         client: SocketAddress?, started: NIODeadline) -> (Response, QueryOutcome, Int?) {
        let upstream: EventLoopFuture<UpstreamPool.Answer>
        if let waiting = context.pending[key] {
            upstream = waiting
        } else {
            if inFlight.loadThenWrappingIncrement(ordering: .relaxed) >= maxInFlight {
                inFlight.wrappingDecrement(ordering: .relaxed)
                return (.now(empty(query, rcode: 2, opt: snapshot.parts.common.plainOPT, snapshot: snapshot,
                                   allocator: allocator)), .servfail, nil)
            }
            let question = Question(query)
            upstream = snapshot.parts.upstreams.forward(question, dnssecOK: query.edns?.dnssecOK ?? false,
                                                        checkingDisabled: query.checkingDisabled,
                                                        on: context.eventLoop, sockets: context.upstreamSockets,
                                                        logger: logger)
            context.pending[key] = upstream
            let cacheSettings = snapshot.settings.cache
            upstream.whenComplete { result in
                self.inFlight.wrappingDecrement(ordering: .relaxed)
                context.pending.removeValue(forKey: key)
                if case .success(let answer) = result {
                    let evicted = context.cache.evictions
                    context.cache.store(key, wire: answer.message, reply: answer.reply, settings: cacheSettings,
                                        now: .now())
                    context.metrics.cacheEvictions.increment(by: Int64(context.cache.evictions - evicted))
                    context.metrics.cacheEntries.record(context.cache.count)
                }
            }
        }
        // Everything the reply needs from `query`, copied: the parsed query is gone by then.
        let id = query.id
        let name = Array(query.name)
        let flags = AnswerWriter.replyFlags(query)
        let question = Question(query)
        let hasEDNS = query.edns != nil
        let common = snapshot.parts.common
        let serveStale = snapshot.settings.cache.serveStale
        let logger = self.logger
        let type = query.type
        let observed = upstream.map { answer -> (ByteBuffer?, QueryOutcome) in
            var reply = answer.message
            reply.setInteger(id, at: reply.readerIndex)
            reply.setBytes(name, at: reply.readerIndex + 12)  // the client's letter case
            let fitted = Self.fit(reply, id: id, flags: flags, question: question, hasEDNS: hasEDNS, limit: limit,
                                  common: common)
            return (fitted, fitted.readableBytes == reply.readableBytes ? .forwarded : .truncated)
        }.flatMapErrorThrowing { error -> (ByteBuffer?, QueryOutcome) in
            if serveStale, let entry = context.cache.stale(key, now: .now()) {
                logger.debug("serving stale", metadata: ["name": "\(DomainName.presentation(ofWire: name))"])
                let stale = name.withUnsafeBufferPointer { name in
                    AnswerCache.answer(entry, id: id, question: name, now: .now(), staleTTL: Self.staleTTL,
                                       allocator: allocator)
                }
                return (Self.fit(stale, id: id, flags: flags, question: question, hasEDNS: hasEDNS, limit: limit,
                                 common: common), .stale)
            }
            logger.debug("upstreams failed", metadata: ["name": "\(DomainName.presentation(ofWire: name))",
                                                        "error": "\(error)"])
            var servfail = allocator.buffer(capacity: 12 + name.count + 4 + 40)
            AnswerWriter.writeEmpty(id: id, flags: flags, rcode: 2, question: question,
                                    opt: hasEDNS ? common.unreachableOPT : nil, into: &servfail)
            return (servfail, .servfail)
        }
        let later = observed.map { reply, outcome -> ByteBuffer? in
            context.observe(outcome, transport: transport, started: started, reply: reply,
                            details: QueryDetails(client: client, name: name, type: type, list: nil))
            return reply
        }
        return (.later(later), .forwarded, nil)
    }

    /// `reply`, or an empty truncated reply when it is larger than the client takes over UDP.
    private func fit(_ reply: ByteBuffer, query: Query, limit: Int, snapshot: PolicySnapshot,
                     allocator: ByteBufferAllocator) -> ByteBuffer {
        reply.readableBytes <= limit ? reply : Verdict.truncated(query, snapshot: snapshot, allocator: allocator)
    }

    private static func fit(_ reply: ByteBuffer, id: UInt16, flags: UInt16, question: Question, hasEDNS: Bool,
                            limit: Int, common: CommonAnswers) -> ByteBuffer {
        if reply.readableBytes <= limit { return reply }
        var truncated = ByteBufferAllocator().buffer(capacity: 12 + question.name.count + 4 + 11)
        AnswerWriter.writeEmpty(id: id, flags: flags | AnswerWriter.flagTC, rcode: 0, question: question,
                                opt: hasEDNS ? common.plainOPT : nil, into: &truncated)
        return truncated
    }

    /// The largest UDP answer this client gets: its EDNS size (at least 512) capped by
    /// `edns_udp_size`, or 512 without EDNS.
    static func udpLimit(_ query: Query, settings: ResolverSettings) -> Int {
        guard let edns = query.edns else { return 512 }
        return min(max(512, Int(edns.udpSize)), settings.ednsUDPSize)
    }

    private func empty(_ query: Query, rcode: UInt8, opt: [UInt8], snapshot: PolicySnapshot,
                       allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 12 + query.name.count + 4 + opt.count)
        AnswerWriter.writeEmpty(query, flags: AnswerWriter.replyFlags(query), rcode: rcode,
                                opt: query.edns == nil ? nil : opt, into: &buffer)
        return buffer
    }

    /// Whether `client` is inside one of the allowed blocks (a missing address is not).
    static func isAllowed(_ client: SocketAddress?, _ allowed: [CIDR]) -> Bool {
        switch client {
        case .v4(let v4):
            var raw = v4.address.sin_addr
            return withUnsafeBytes(of: &raw) { bytes in allowed.contains { $0.contains(bytes) } }
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            return withUnsafeBytes(of: &raw) { bytes in allowed.contains { $0.contains(bytes) } }
        default:
            return false
        }
    }

    /// Counts and logs each monitor list that holds `name` (lower-case wire form).
    private func recordMonitorHits(_ name: UnsafeBufferPointer<UInt8>, snapshot: PolicySnapshot, client: SocketAddress?,
                                   context: LoopContext) {
        let policy = snapshot.policy
        for hit in policy.monitorHits(name, active: snapshot.active) {
            let list = policy.lists[hit.listIndex].settings.name
            let entry = DomainName.presentation(ofWire: UnsafeBufferPointer(rebasing: name[hit.suffixOffset...]))
            monitor.record(list: list, entry: entry)
            context.metrics.monitored(list: list)
            let clientText = client?.ipAddress ?? "-"
            logger.info("action=monitor list=\(list) name=\(DomainName.presentation(ofWire: name)) client=\(clientText)",
                        metadata: ["entry": "\(entry)"])
        }
    }
}

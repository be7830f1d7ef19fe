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
        /// Forwarded; the reply comes on the listener's event loop (nil: send nothing).
        case later(LaterReply)
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
        // Read through `snapshot` field by field: a copy of the whole settings value would retain
        // every string and array in it on each query.
        if !Self.isAllowed(client, snapshot.settings.accessAllow) {
            return (.now(empty(query, rcode: 5, opt: snapshot.parts.common.prohibitedOPT, snapshot: snapshot,
                               allocator: allocator)), .refused, nil)
        }
        if transport == .udp && snapshot.settings.rateLimit.perClientQPS > 0
            && !context.limiter.allow(client, qps: snapshot.settings.rateLimit.perClientQPS,
                                      burst: snapshot.settings.rateLimit.burst, now: started) {
            switch snapshot.settings.rateLimit.action {
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
        let limit = transport == .udp ? Self.udpLimit(query, ednsUDPSize: snapshot.settings.ednsUDPSize) : Int(UInt16.max)
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
        let waiting: PendingForward
        let isFirst: Bool
        if let pending = context.pending[key] {
            waiting = pending
            isFirst = false
        } else {
            if inFlight.loadThenWrappingIncrement(ordering: .relaxed) >= maxInFlight {
                inFlight.wrappingDecrement(ordering: .relaxed)
                return (.now(empty(query, rcode: 2, opt: snapshot.parts.common.plainOPT, snapshot: snapshot,
                                   allocator: allocator)), .servfail, nil)
            }
            waiting = PendingForward()
            context.pending[key] = waiting
            isFirst = true
        }
        // Everything the reply needs from `query`, copied: the parsed query is gone by then.
        let id = query.id
        let name = Array(query.name)
        let flags = AnswerWriter.replyFlags(query)
        let type = query.type
        let qclass = query.class
        let hasEDNS = query.edns != nil
        let common = snapshot.parts.common
        let serveStale = snapshot.settings.cache.serveStale
        let logger = self.logger
        let later = LaterReply()
        waiting.add { result in
            let reply: ByteBuffer
            let outcome: QueryOutcome
            switch result {
            case .success(let answer):
                var message = answer.message
                message.setInteger(id, at: message.readerIndex)
                message.setBytes(name, at: message.readerIndex + 12)  // the client's letter case
                reply = Self.fit(message, id: id, flags: flags, name: name, type: type, class: qclass,
                                 hasEDNS: hasEDNS, limit: limit, common: common)
                outcome = reply.readableBytes == message.readableBytes ? .forwarded : .truncated
            case .failure(let error):
                if serveStale, let entry = context.cache.stale(key, now: .now()) {
                    logger.debug("serving stale", metadata: ["name": "\(DomainName.presentation(ofWire: name))"])
                    let stale = name.withUnsafeBufferPointer { name in
                        AnswerCache.answer(entry, id: id, question: name, now: .now(), staleTTL: Self.staleTTL,
                                           allocator: allocator)
                    }
                    reply = Self.fit(stale, id: id, flags: flags, name: name, type: type, class: qclass,
                                     hasEDNS: hasEDNS, limit: limit, common: common)
                    outcome = .stale
                } else {
                    logger.debug("upstreams failed", metadata: ["name": "\(DomainName.presentation(ofWire: name))",
                                                                "error": "\(error)"])
                    var servfail = allocator.buffer(capacity: 12 + name.count + 4 + 40)
                    AnswerWriter.writeEmpty(id: id, flags: flags, rcode: 2,
                                            question: Question(name: name, type: type, class: qclass),
                                            opt: hasEDNS ? common.unreachableOPT : nil, into: &servfail)
                    reply = servfail
                    outcome = .servfail
                }
            }
            context.observe(outcome, transport: transport, started: started, reply: reply,
                            details: QueryDetails(client: client, name: name, type: type, list: nil))
            later.complete(reply)
        }
        // Started only now that this client waits: the upstreams may fail before `forward` returns.
        if isFirst {
            let cacheSettings = snapshot.settings.cache
            snapshot.parts.upstreams.forward(Question(query), dnssecOK: query.edns?.dnssecOK ?? false,
                                             checkingDisabled: query.checkingDisabled, on: context.eventLoop,
                                             sockets: context.upstreamSockets, logger: logger) { result in
                self.inFlight.wrappingDecrement(ordering: .relaxed)
                context.pending.removeValue(forKey: key)
                if case .success(let answer) = result {
                    let evicted = context.cache.evictions
                    context.cache.store(key, wire: answer.message, reply: answer.reply, settings: cacheSettings,
                                        now: .now())
                    context.metrics.cacheEvictions.increment(by: Int64(context.cache.evictions - evicted))
                    context.metrics.cacheEntries.record(context.cache.count)
                }
                waiting.complete(result)
            }
        }
        return (.later(later), .forwarded, nil)
    }

    /// `reply`, or an empty truncated reply when it is larger than the client takes over UDP.
    private func fit(_ reply: ByteBuffer, query: Query, limit: Int, snapshot: PolicySnapshot,
                     allocator: ByteBufferAllocator) -> ByteBuffer {
        reply.readableBytes <= limit ? reply : Verdict.truncated(query, snapshot: snapshot, allocator: allocator)
    }

    private static func fit(_ reply: ByteBuffer, id: UInt16, flags: UInt16, name: [UInt8], type: UInt16,
                            class qclass: UInt16, hasEDNS: Bool, limit: Int, common: CommonAnswers) -> ByteBuffer {
        if reply.readableBytes <= limit { return reply }
        var truncated = ByteBufferAllocator().buffer(capacity: 12 + name.count + 4 + 11)
        AnswerWriter.writeEmpty(id: id, flags: flags | AnswerWriter.flagTC, rcode: 0,
                                question: Question(name: name, type: type, class: qclass),
                                opt: hasEDNS ? common.plainOPT : nil, into: &truncated)
        return truncated
    }

    /// The largest UDP answer this client gets: its EDNS size (at least 512) capped by
    /// `edns_udp_size`, or 512 without EDNS.
    static func udpLimit(_ query: Query, ednsUDPSize: Int) -> Int {
        guard let edns = query.edns else { return 512 }
        return min(max(512, Int(edns.udpSize)), ednsUDPSize)
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

/// The clients waiting on one upstream query (identical misses on one loop share it). Confined to
/// its loop, like `LoopContext`.
final class PendingForward: @unchecked Sendable {
    private var waiters: [(Result<UpstreamPool.Answer, Error>) -> Void] = []

    func add(_ waiter: @escaping (Result<UpstreamPool.Answer, Error>) -> Void) {
        waiters.append(waiter)
    }

    func complete(_ result: Result<UpstreamPool.Answer, Error>) {
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter(result) }
    }
}

/// A reply that comes later (a forwarded query), without a promise and future per query: the
/// listener says where it goes with `whenReady` right after `respond` returns. Confined to the
/// listener's loop.
final class LaterReply: @unchecked Sendable {
    private var sink: ((ByteBuffer?) -> Void)?
    private var done = false
    private var value: ByteBuffer?

    /// Calls `body` with the reply (nil: nothing to send) once it exists.
    func whenReady(_ body: @escaping (ByteBuffer?) -> Void) {
        if done { body(value); value = nil } else { sink = body }
    }

    func complete(_ reply: ByteBuffer?) {
        guard !done else { return }
        done = true
        if let sink {
            self.sink = nil
            sink(reply)
        } else {
            value = reply
        }
    }
}

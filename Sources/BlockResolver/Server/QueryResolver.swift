import Atomics
import Logging
import NIOCore
import ResolverConfig

/// The transport-independent part of answering one message: parse, decide, answer or forward.
/// Shared by every listener and event loop; holds no per-query state of its own.
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
    /// Forwarded queries not yet answered, so that shutdown can wait for them and a flood of
    /// queries to a slow upstream cannot use up every file descriptor.
    let inFlight = ManagedAtomic<Int>(0)
    /// Forwards in flight beyond which new ones get SERVFAIL at once (each holds a socket).
    let maxInFlight: Int

    init(store: PolicyStore, logger: Logger, maxInFlight: Int = 10_000) {
        self.store = store
        self.maxInFlight = maxInFlight
        self.logger = logger
    }

    func respond(to message: ByteBuffer, transport: Transport, client: SocketAddress?, eventLoop: EventLoop,
                 allocator: ByteBufferAllocator) -> Response {
        message.withUnsafeReadableBytes { bytes in
            QueryParser.parse(bytes) { outcome -> Response in
                switch outcome {
                case .drop:
                    return .none
                case .headerOnly(let id, let flags, let rcode):
                    guard let wire = HeaderOnlyMessage.wire(id: id, echoedFlags: flags, rcode: rcode) else { return .none }
                    return .now(allocator.buffer(bytes: wire))
                case .query(let query):
                    return answer(query, message: message, transport: transport, client: client, eventLoop: eventLoop,
                                  allocator: allocator)
                }
            }
        }
    }

    private func answer(_ query: Query, message: ByteBuffer, transport: Transport, client: SocketAddress?,
                        eventLoop: EventLoop, allocator: ByteBufferAllocator) -> Response {
        let snapshot = store.current
        let policy = snapshot.policy
        let match: PolicyMatch? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: query.name.count) { lower in
            for index in 0..<query.name.count { lower[index] = asciiLower(query.name[index]) }
            let name = UnsafeBufferPointer(lower)
            if policy.hasMonitorLists { recordMonitorHits(name, snapshot: snapshot, client: client) }
            return policy.decide(name, active: snapshot.active)
        }
        switch Verdict.decide(query, match: match, snapshot: snapshot, transport: transport, allocator: allocator) {
        case .drop: return .none
        case .answer(let buffer): return .now(buffer)
        case .forward:
            return forwardOrRefuse(query, message: message, transport: transport, snapshot: snapshot,
                                   eventLoop: eventLoop, allocator: allocator)
        }
    }

    /// Counts and logs each monitor list that holds `name` (lower-case wire form).
    private func recordMonitorHits(_ name: UnsafeBufferPointer<UInt8>, snapshot: PolicySnapshot, client: SocketAddress?) {
        let policy = snapshot.policy
        for hit in policy.monitorHits(name, active: snapshot.active) {
            let list = policy.lists[hit.listIndex].settings.name
            let entry = DomainName.presentation(ofWire: UnsafeBufferPointer(rebasing: name[hit.suffixOffset...]))
            monitor.record(list: list, entry: entry)
            let clientText = client?.ipAddress ?? "-"
            logger.info("action=monitor list=\(list) name=\(DomainName.presentation(ofWire: name)) client=\(clientText)",
                        metadata: ["entry": "\(entry)"])
        }
    }

    /// Forwards the query, or answers SERVFAIL at once when too many forwards are already waiting.
    private func forwardOrRefuse(_ query: Query, message: ByteBuffer, transport: Transport, snapshot: PolicySnapshot,
                                 eventLoop: EventLoop, allocator: ByteBufferAllocator) -> Response {
        if inFlight.loadThenWrappingIncrement(ordering: .relaxed) >= maxInFlight {
            inFlight.wrappingDecrement(ordering: .relaxed)
            var buffer = allocator.buffer(capacity: 12 + query.name.count + 4 + 40)
            AnswerWriter.writeEmpty(query, flags: AnswerWriter.replyFlags(query), rcode: 2,
                                    opt: query.edns == nil ? nil : snapshot.parts.common.plainOPT, into: &buffer)
            return .now(buffer)
        }
        // Copy: `message` is a slice of the listener's whole receive buffer, which must not be
        // kept alive while the upstream takes its time.
        let copy = allocator.buffer(bytes: message.readableBytesView)
        return .later(forward(query, message: copy, transport: transport, snapshot: snapshot, eventLoop: eventLoop))
    }

    private func forward(_ query: Query, message: ByteBuffer, transport: Transport, snapshot: PolicySnapshot,
                         eventLoop: EventLoop) -> EventLoopFuture<ByteBuffer?> {
        let question = Question(query)
        let clientID = query.id
        let limit = transport == .udp ? query.maxUDPSize : Int(UInt16.max)
        let echoed = (query.recursionDesired ? AnswerWriter.flagRD : 0) | (query.checkingDisabled ? AnswerWriter.flagCD : 0)
        let hasEDNS = query.edns != nil
        let common = snapshot.parts.common
        let logger = self.logger
        return snapshot.parts.upstreams.forward(query: message, question: question, on: eventLoop)
            .map { reply -> ByteBuffer? in
                var reply = reply
                if reply.readableBytes > limit {
                    // Too big for the client's UDP buffer (it came over TCP upstream): tell it to retry over TCP.
                    var truncated = ByteBufferAllocator().buffer(capacity: 12 + question.name.count + 4 + 11)
                    let flags = AnswerWriter.flagQR | AnswerWriter.flagRA | AnswerWriter.flagTC | echoed
                    AnswerWriter.writeEmpty(id: clientID, flags: flags, rcode: 0, question: question,
                                            opt: hasEDNS ? common.plainOPT : nil, into: &truncated)
                    return truncated
                }
                reply.setInteger(clientID, at: reply.readerIndex)
                return reply
            }
            .flatMapErrorThrowing { error -> ByteBuffer? in
                logger.debug("upstreams failed", metadata: [
                    "name": "\(DomainName.presentation(ofWire: question.name))", "error": "\(error)",
                ])
                var servfail = ByteBufferAllocator().buffer(capacity: 12 + question.name.count + 4 + 40)
                AnswerWriter.writeEmpty(id: clientID, flags: AnswerWriter.flagQR | AnswerWriter.flagRA | echoed, rcode: 2,
                                        question: question, opt: hasEDNS ? common.unreachableOPT : nil, into: &servfail)
                return servfail
            }
            .always { _ in self.inFlight.wrappingDecrement(ordering: .relaxed) }
    }
}

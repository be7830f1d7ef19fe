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

    func respond(to message: ByteBuffer, transport: Transport, eventLoop: EventLoop,
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
                    return answer(query, message: message, transport: transport, eventLoop: eventLoop,
                                  allocator: allocator)
                }
            }
        }
    }

    private func answer(_ query: Query, message: ByteBuffer, transport: Transport, eventLoop: EventLoop,
                        allocator: ByteBufferAllocator) -> Response {
        let snapshot = store.current
        let match: PolicyMatch? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: query.name.count) { lower in
            for index in 0..<query.name.count { lower[index] = asciiLower(query.name[index]) }
            return snapshot.policy.decide(UnsafeBufferPointer(lower))
        }
        if let match, snapshot.policy.lists[match.listIndex].settings.action == .block {
            var buffer = allocator.buffer(capacity: 12 + query.name.count + 4 + 64 + 16 + 64)
            AnswerWriter.writeBlocked(query, suffixOffset: match.suffixOffset, answer: snapshot.answers[match.listIndex],
                                      into: &buffer)
            if transport == .udp && buffer.readableBytes > query.maxUDPSize {
                // A long name, SOA and category text can exceed a 512-byte client: send TC so it asks over TCP.
                buffer.clear()
                AnswerWriter.writeEmpty(id: query.id, flags: AnswerWriter.replyFlags(query) | AnswerWriter.flagTC, rcode: 0,
                                        question: Question(query), opt: query.edns == nil ? nil : snapshot.common.plainOPT,
                                        into: &buffer)
            }
            return .now(buffer)
        }
        if inFlight.loadThenWrappingIncrement(ordering: .relaxed) >= maxInFlight {
            inFlight.wrappingDecrement(ordering: .relaxed)
            var buffer = allocator.buffer(capacity: 12 + query.name.count + 4 + 40)
            AnswerWriter.writeEmpty(id: query.id, flags: AnswerWriter.replyFlags(query), rcode: 2, question: Question(query),
                                    opt: query.edns == nil ? nil : snapshot.common.plainOPT, into: &buffer)
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
        let common = snapshot.common
        let logger = self.logger
        return snapshot.upstreams.forward(query: message, question: question, on: eventLoop)
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

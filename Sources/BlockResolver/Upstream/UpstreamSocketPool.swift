import NIOCore
import NIOPosix

/// UDP sockets for upstream queries, a pool per event loop (RFC 5452).
///
/// Opening a socket for every upstream query costs far more than answering one; so each loop
/// keeps `size` sockets per address family, each bound by the kernel to a random port. A query
/// goes out on a randomly chosen socket with a random ID that is not in flight on it, and only a
/// reply from the upstream's address, on that socket, with that ID and the question asked is
/// accepted. Sockets are replaced (a new random port) after `maxUses` queries or `maxAge`, so
/// the set of ports keeps changing. Confined to its event loop, like `LoopContext`.
final class UpstreamSocketPool: @unchecked Sendable {
    static let size = 16
    static let maxUses = 5_000
    static let maxAge = TimeAmount.seconds(60)

    /// One socket and the queries waiting for a reply on it; used only on the pool's event loop.
    final class Slot: @unchecked Sendable {
        var channel: Channel?
        var uses = 0
        var opened = NIODeadline.now()
        var pending: [UInt16: Waiting] = [:]
        var replacing = false
    }

    struct Waiting {
        let question: Question
        let upstream: SocketAddress
        let promise: EventLoopPromise<UpstreamPool.Answer>
    }

    let eventLoop: EventLoop
    private var slots: [Bool: [Slot]] = [:]  // keyed by "is IPv6"

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Opens the sockets of both families (IPv6 only where the machine has it).
    func open() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let families = [false, true].map { ipv6 -> EventLoopFuture<Void> in
                let slots = (0..<Self.size).map { _ in Slot() }
                self.slots[ipv6] = slots
                let opened = slots.map { self.bind($0, ipv6: ipv6) }
                return EventLoopFuture.andAllComplete(opened, on: self.eventLoop)
            }
            return EventLoopFuture.andAllComplete(families, on: self.eventLoop)
        }
    }

    private func bind(_ slot: Slot, ipv6: Bool) -> EventLoopFuture<Void> {
        DatagramBootstrap(group: eventLoop)
            // NIO's default 2048-byte buffer would silently cut larger answers (DNSSEC, big TXT).
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_535))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamPoolHandler(pool: self, slot: slot))
                }
            }
            .bind(host: ipv6 ? "::" : "0.0.0.0", port: 0)
            .map { channel in
                slot.channel = channel
                slot.uses = 0
                slot.opened = .now()
                slot.replacing = false
            }
            .recover { _ in slot.replacing = false }  // no IPv6 here, or out of descriptors: the slot stays unused
    }

    /// Sends `message` (whose first two bytes are replaced by a fresh ID) to `upstream`, or
    /// returns nil when no socket of that family is ready (the caller opens one of its own).
    func send(_ message: [UInt8], question: Question, to upstream: SocketAddress,
              budget: TimeAmount) -> EventLoopFuture<UpstreamPool.Answer>? {
        let ipv6: Bool
        switch upstream {
        case .v6: ipv6 = true
        default: ipv6 = false
        }
        guard let family = slots[ipv6] else { return nil }
        let ready = family.filter { $0.channel != nil && !$0.replacing }
        guard let slot = ready.randomElement(), let channel = slot.channel else { return nil }
        var candidate = UInt16.random(in: 0...UInt16.max)
        while slot.pending[candidate] != nil { candidate = UInt16.random(in: 0...UInt16.max) }
        let id = candidate
        let promise = eventLoop.makePromise(of: UpstreamPool.Answer.self)
        slot.pending[id] = Waiting(question: question, upstream: upstream, promise: promise)
        slot.uses += 1
        var buffer = channel.allocator.buffer(bytes: message)
        buffer.setInteger(id, at: 0)
        let timer = eventLoop.scheduleTask(in: budget) { [weak slot] in
            slot?.pending.removeValue(forKey: id)
            promise.fail(UpstreamError.timeout)
        }
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: upstream, data: buffer)).whenFailure { error in
            slot.pending.removeValue(forKey: id)
            promise.fail(error)
        }
        promise.futureResult.whenComplete { _ in
            timer.cancel()
            self.retireIfDue(slot, ipv6: ipv6)
        }
        return promise.futureResult
    }

    /// Replaces a socket that has served enough queries or is old, once nothing waits on it.
    private func retireIfDue(_ slot: Slot, ipv6: Bool) {
        guard !slot.replacing, slot.pending.isEmpty, let channel = slot.channel,
              slot.uses >= Self.maxUses || NIODeadline.now() - slot.opened > Self.maxAge
        else { return }
        slot.replacing = true
        slot.channel = nil
        channel.close(promise: nil)
        _ = bind(slot, ipv6: ipv6)
    }

    /// A datagram arrived on `slot`'s socket: complete the query it answers, if any.
    fileprivate func received(_ envelope: AddressedEnvelope<ByteBuffer>, on slot: Slot) {
        guard let id = envelope.data.getInteger(at: envelope.data.readerIndex, as: UInt16.self),
              let waiting = slot.pending[id], waiting.upstream == envelope.remoteAddress
        else { return }
        let reply = envelope.data.withUnsafeReadableBytes { bytes in
            ReplyParser.check(bytes, id: id, question: waiting.question)
        }
        guard let reply else { return }  // a spoofed or stale datagram: keep waiting for the real one
        slot.pending.removeValue(forKey: id)
        // Copy: the datagram is a slice of the socket's 64 KiB receive buffer.
        let message = ByteBufferAllocator().buffer(bytes: envelope.data.readableBytesView)
        waiting.promise.succeed(UpstreamPool.Answer(message: message, reply: reply))
    }

    /// Closes every socket (shutdown).
    func close() {
        eventLoop.execute {
            for slot in self.slots.values.joined() {
                slot.channel?.close(promise: nil)
                slot.channel = nil
            }
        }
    }
}

/// Hands the datagrams of one pool socket to the pool.
private final class UpstreamPoolHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let pool: UpstreamSocketPool
    private let slot: UpstreamSocketPool.Slot

    init(pool: UpstreamSocketPool, slot: UpstreamSocketPool.Slot) {
        self.pool = pool
        self.slot = slot
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pool.received(Self.unwrapInboundIn(data), on: slot)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // An ICMP error for one upstream says nothing about the other queries on this socket;
        // the affected query ends by its timeout and moves on to the next upstream.
    }
}

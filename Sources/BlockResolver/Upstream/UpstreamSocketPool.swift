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
        var pending: [UInt16: Exchange] = [:]
        var replacing = false
    }

    /// One query waiting on a slot for its reply, and its timer. Confined to the pool's loop; the
    /// timer is a scheduled callback (no promise or future per query).
    final class Exchange: NIOScheduledCallbackHandler, @unchecked Sendable {
        let id: UInt16
        let question: Question
        let upstream: SocketAddress
        unowned let slot: Slot
        let ipv6: Bool
        unowned let pool: UpstreamSocketPool
        var timer: NIOScheduledCallback?
        let completion: (Result<ReplyParser.Reply, Error>) -> Void

        init(id: UInt16, question: Question, upstream: SocketAddress, slot: Slot, ipv6: Bool, pool: UpstreamSocketPool,
             completion: @escaping (Result<ReplyParser.Reply, Error>) -> Void) {
            self.id = id
            self.question = question
            self.upstream = upstream
            self.slot = slot
            self.ipv6 = ipv6
            self.pool = pool
            self.completion = completion
        }

        func handleScheduledCallback(eventLoop: some EventLoop) {
            timer = nil
            pool.finish(self, with: .failure(UpstreamError.timeout))
        }
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

    /// Sends `message` (whose first two bytes are replaced by a fresh ID) to `upstream` and calls
    /// `completion` once, on this loop, with the reply or the failure (timeout after `budget`).
    /// Returns false, without calling `completion`, when no socket of that family is ready (the
    /// caller opens one of its own).
    func send(_ message: [UInt8], question: Question, to upstream: SocketAddress, budget: TimeAmount,
              completion: @escaping (Result<ReplyParser.Reply, Error>) -> Void) -> Bool {
        let ipv6: Bool
        switch upstream {
        case .v6: ipv6 = true
        default: ipv6 = false
        }
        guard let family = slots[ipv6], let slot = Self.readySlot(family), let channel = slot.channel else { return false }
        var candidate = UInt16.random(in: 0...UInt16.max)
        while slot.pending[candidate] != nil { candidate = UInt16.random(in: 0...UInt16.max) }
        let id = candidate
        let exchange = Exchange(id: id, question: question, upstream: upstream, slot: slot, ipv6: ipv6, pool: self,
                                completion: completion)
        slot.pending[id] = exchange
        slot.uses += 1
        exchange.timer = try? eventLoop.assumeIsolated().scheduleCallback(in: budget, handler: exchange)
        var buffer = channel.allocator.buffer(capacity: message.count)
        buffer.writeBytes(message)
        DNSHeader.setID(id, in: &buffer)
        // Without a write promise: a UDP send fails only locally (no route, buffer full), and then
        // the timer moves the query on to the next upstream.
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: upstream, data: buffer), promise: nil)
        return true
    }

    /// A random slot with an open socket that is not being replaced, without building a list.
    private static func readySlot(_ family: [Slot]) -> Slot? {
        guard !family.isEmpty else { return nil }
        let start = Int.random(in: 0..<family.count)
        for step in 0..<family.count {
            let slot = family[(start + step) % family.count]
            if slot.channel != nil && !slot.replacing { return slot }
        }
        return nil
    }

    /// Ends `exchange` (reply, timeout) exactly once.
    fileprivate func finish(_ exchange: Exchange, with result: Result<ReplyParser.Reply, Error>) {
        let slot = exchange.slot
        guard slot.pending[exchange.id] === exchange else { return }
        slot.pending.removeValue(forKey: exchange.id)
        exchange.timer?.cancel()
        exchange.timer = nil
        exchange.completion(result)
        retireIfDue(slot, ipv6: exchange.ipv6)
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
        guard let id = DNSHeader.id(of: envelope.data),
              let exchange = slot.pending[id], exchange.upstream == envelope.remoteAddress
        else { return }
        let reply = envelope.data.withUnsafeReadableBytes { bytes in
            ReplyParser.check(bytes, id: id, question: exchange.question)
        }
        guard let reply else { return }  // a spoofed or stale datagram: keep waiting for the real one
        // The reply's image is a copy: the datagram is a slice of the socket's 64 KiB receive buffer.
        finish(exchange, with: .success(reply))
    }

    /// Closes every socket (shutdown).
    func close() {
        eventLoop.execute {
            for slot in self.slots.values.joined() {
                slot.channel?.close(promise: nil)
                slot.channel = nil
                for exchange in Array(slot.pending.values) {
                    self.finish(exchange, with: .failure(UpstreamError.closedWithoutAnswer))
                }
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

#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CoreMetrics
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
///
/// A socket that cannot be opened (descriptors exhausted, an `outgoing` address not on the host
/// yet) leaves its slot empty, and the family's empty slots are opened again later: one bind after
/// `retryFirst`, then one after a wait that doubles up to `retryLongest` while binds keep failing,
/// so an exhausted process is not made to spend descriptors on a storm of binds. Once one opens,
/// the next empty slot is opened at once, until the family is full again. A family the kernel does
/// not have (EAFNOSUPPORT: no IPv6) is not tried again.
final class UpstreamSocketPool: @unchecked Sendable {
    static let size = 16
    static let maxUses = 5_000
    static let maxAge = TimeAmount.seconds(60)
    static let retryFirst = TimeAmount.seconds(1)
    static let retryLongest = TimeAmount.seconds(30)

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

    /// The slots of one address family and the state of reopening its empty ones.
    final class Family: @unchecked Sendable {
        let ipv6: Bool
        var slots: [Slot] = []
        /// The wait before the next retry of an empty slot.
        var retryDelay = UpstreamSocketPool.retryFirst
        var retry: Scheduled<Void>?
        /// The kernel has no such family (EAFNOSUPPORT): its slots stay empty.
        var unavailable = false
        /// Slots with an open socket; read by the metrics endpoint's thread, hence atomic.
        let usable = ManagedAtomic<Int>(0)
        let gauge: CoreMetrics.Gauge?

        init(ipv6: Bool, gauge: CoreMetrics.Gauge?) {
            self.ipv6 = ipv6
            self.gauge = gauge
        }
    }

    let eventLoop: EventLoop
    private let families: [Bool: Family]  // keyed by "is IPv6"
    /// The `outgoing` addresses new sockets bind to (the loop's `UpstreamPool` sets them); empty for
    /// the wildcard.
    private var outgoing: [SocketAddress] = []
    private var closed = false
    /// This loop's kept TLS connection to each TLS upstream, by `UpstreamTarget.connectionKey`.
    private var tlsConnections: [String: TLSUpstreamConnection] = [:]

    /// This loop's connection to the TLS upstream `target`, made on first use.
    func tlsConnection(to target: UpstreamTarget, tls: UpstreamTLSClient, source: SocketAddress?) -> TLSUpstreamConnection {
        if let connection = tlsConnections[target.connectionKey] { return connection }
        let connection = TLSUpstreamConnection(eventLoop: eventLoop, address: target.address, tls: tls, source: source)
        tlsConnections[target.connectionKey] = connection
        return connection
    }

    /// `gauges` record each family's open sockets (`dns_upstream_sockets`) when metrics are read.
    init(eventLoop: EventLoop, gauges: (ipv4: CoreMetrics.Gauge, ipv6: CoreMetrics.Gauge)? = nil) {
        self.eventLoop = eventLoop
        families = [false: Family(ipv6: false, gauge: gauges?.ipv4), true: Family(ipv6: true, gauge: gauges?.ipv6)]
    }

    /// Open sockets of the family, from any thread.
    func usable(ipv6: Bool) -> Int { families[ipv6]!.usable.load(ordering: .relaxed) }

    /// Records the open sockets of each family in its gauge (called when metrics are read).
    func recordSockets() {
        for family in families.values { family.gauge?.record(family.usable.load(ordering: .relaxed)) }
    }

    /// Takes the `outgoing` addresses of the loop's upstream pool. Sockets already open keep
    /// their source until they are replaced (`maxUses`, `maxAge`); a family that had no address
    /// before (so no socket) starts filling.
    func use(outgoing: [SocketAddress]) {
        eventLoop.execute {
            self.outgoing = outgoing
            for family in self.families.values { self.refill(family) }
        }
    }

    /// Where a new socket of the family binds: the wildcard without `outgoing`, else a random
    /// `outgoing` address of the family; nil when `outgoing` has none of it (the config then has no
    /// upstream of that family, so none of its sockets is opened).
    static func source(ipv6: Bool, outgoing: [SocketAddress]) -> SocketAddress? {
        guard !outgoing.isEmpty else {
            return try? SocketAddress(ipAddress: ipv6 ? "::" : "0.0.0.0", port: 0)
        }
        return outgoing.filter { ($0.protocol == .inet6) == ipv6 }.randomElement()
    }

    /// Opens the sockets of both families (IPv6 only where the machine has it).
    func open() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let opened = self.families.values.map { family -> EventLoopFuture<Void> in
                family.slots = (0..<Self.size).map { _ in Slot() }
                guard Self.source(ipv6: family.ipv6, outgoing: self.outgoing) != nil else {
                    return self.eventLoop.makeSucceededVoidFuture()
                }
                return EventLoopFuture.andAllComplete(family.slots.map { self.bind($0, family) }, on: self.eventLoop)
            }
            return EventLoopFuture.andAllComplete(opened, on: self.eventLoop)
        }
    }

    /// Opens a socket for an empty `slot`. A bind may complete at once, and its success then opens
    /// the next empty slot (`refill`), so a slot that is open or opening by then is left alone.
    private func bind(_ slot: Slot, _ family: Family) -> EventLoopFuture<Void> {
        guard slot.channel == nil, !slot.replacing, !closed,
              let source = Self.source(ipv6: family.ipv6, outgoing: outgoing)
        else { return eventLoop.makeSucceededVoidFuture() }
        slot.replacing = true
        return DatagramBootstrap(group: eventLoop)
            // NIO's default 2048-byte buffer would silently cut larger answers (DNSSEC, big TXT).
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_535))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamPoolHandler(pool: self, slot: slot))
                }
            }
            .bind(to: source)
            .map { channel in
                slot.replacing = false
                guard !self.closed else { return channel.close(promise: nil) }
                slot.channel = channel
                slot.uses = 0
                slot.opened = .now()
                family.usable.wrappingIncrement(ordering: .relaxed)
                family.retryDelay = Self.retryFirst
                self.refill(family)
            }
            .recover { error in
                slot.replacing = false
                if (error as? IOError)?.errnoCode == EAFNOSUPPORT {
                    family.unavailable = true
                } else {
                    self.scheduleRetry(family)
                }
            }
    }

    /// Opens the next empty slot of `family`, if any; its success opens the one after, its failure
    /// waits (`scheduleRetry`). One bind at a time, never one per empty slot at once.
    private func refill(_ family: Family) {
        guard !closed, family.retry == nil,
              let slot = family.slots.first(where: { $0.channel == nil && !$0.replacing })
        else { return }
        _ = bind(slot, family)
    }

    /// Tries the empty slots of `family` again after the current wait, and doubles the wait for
    /// the time after (up to `retryLongest`); a success sets it back to `retryFirst`.
    private func scheduleRetry(_ family: Family) {
        guard !closed, !family.unavailable, family.retry == nil else { return }
        let delay = family.retryDelay
        family.retryDelay = min(Self.retryLongest, delay * 2)
        family.retry = eventLoop.scheduleTask(in: delay) {
            family.retry = nil
            self.refill(family)
        }
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
        guard let slot = Self.readySlot(families[ipv6]!.slots), let channel = slot.channel else { return false }
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
        retireIfDue(slot, families[exchange.ipv6]!)
    }

    /// Replaces a socket that has served enough queries or is old, once nothing waits on it.
    private func retireIfDue(_ slot: Slot, _ family: Family) {
        guard !slot.replacing, slot.pending.isEmpty, let channel = slot.channel,
              slot.uses >= Self.maxUses || NIODeadline.now() - slot.opened > Self.maxAge
        else { return }
        slot.channel = nil
        family.usable.wrappingDecrement(ordering: .relaxed)
        channel.close(promise: nil)
        _ = bind(slot, family)
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
            self.closed = true
            for connection in self.tlsConnections.values { connection.close() }
            self.tlsConnections = [:]
            for family in self.families.values {
                family.retry?.cancel()
                family.retry = nil
                for slot in family.slots {
                    if let channel = slot.channel {
                        channel.close(promise: nil)
                        family.usable.wrappingDecrement(ordering: .relaxed)
                    }
                    slot.channel = nil
                    for exchange in Array(slot.pending.values) {
                        self.finish(exchange, with: .failure(UpstreamError.closedWithoutAnswer))
                    }
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

import Atomics
import Logging
import NIOCore
import NIOPosix
import ResolverConfig

/// Forwards queries to the configured upstreams and returns the first good answer.
///
/// Each try opens its own socket: for UDP on a kernel-chosen random port, with a fresh random ID,
/// and only a reply from the upstream's address with that ID and the same question is accepted
/// (RFC 5452). A truncated UDP answer is asked again over TCP from the same upstream. A try that
/// gets no answer within `timeout_ms`, or an error, moves on to the next upstream; all tries of
/// one query together stay within `query_timeout_ms`. The order follows `upstream_strategy`;
/// an upstream that failed three times in a row is marked down, tried last, and probed in the
/// background until it answers again.
///
/// A pool is immutable; `UpstreamSet` replaces it when a reload changes the upstream settings, and
/// the new pool keeps the `UpstreamTarget` (health, latency, metrics) of every upstream it still has.
final class UpstreamPool: Sendable, AtomicReference {
    typealias Target = UpstreamTarget

    let targets: [Target]
    /// The settings this pool was made from, so that a reload can tell whether anything changed.
    let settings: Settings
    let strategy: ResolverSettings.UpstreamStrategy
    let timeout: TimeAmount
    let deadline: TimeAmount
    let udpSize: UInt16
    let queries: UpstreamQueryBuilder
    /// `outgoing`: the source addresses of every upstream socket; empty for the wildcard.
    let outgoing: [SocketAddress]
    private let turn = ManagedAtomic<Int>(0)

    /// How long a down upstream is skipped before live queries try it again.
    static let downTime = TimeAmount.seconds(5)
    /// One query in this many tries a random other upstream first under `fastest`.
    static let probeEvery = 32

    /// The part of the config a pool is made from.
    struct Settings: Equatable, Sendable {
        let upstreams: [ResolverSettings.Upstream]
        let strategy: ResolverSettings.UpstreamStrategy
        let timeoutMilliseconds: Int
        let queryTimeoutMilliseconds: Int
        let ednsUDPSize: Int
        let outgoing: [String]

        init(_ settings: ResolverSettings) {
            upstreams = settings.upstreams
            strategy = settings.upstreamStrategy
            timeoutMilliseconds = settings.timeoutMilliseconds
            queryTimeoutMilliseconds = settings.queryTimeoutMilliseconds
            ednsUDPSize = settings.ednsUDPSize
            outgoing = settings.outgoing
        }
    }

    /// A pool for `settings`, taking the target of each upstream that `previous` already has
    /// (same address and transport), so that its health and latency carry over.
    init(settings: ResolverSettings, previous: UpstreamPool? = nil, metrics: ResolverMetrics? = nil) throws {
        let settings = Settings(settings)
        self.settings = settings
        targets = try settings.upstreams.map { upstream in
            if let kept = previous?.targets.first(where: { $0.name == upstream.address.description
                && $0.tcpOnly == (upstream.tcp || upstream.tls != nil) && $0.tls?.settings == upstream.tls }) {
                return kept
            }
            let tls = try upstream.tls.map { try UpstreamTLSClient($0, upstream: upstream.address.description) }
            return UpstreamTarget(address: try SocketAddress(ipAddress: upstream.address.host, port: upstream.address.port),
                                  name: upstream.address.description, tcpOnly: upstream.tcp, tls: tls,
                                  metrics: metrics?.upstream(upstream.address.description))
        }
        strategy = settings.strategy
        timeout = .milliseconds(Int64(settings.timeoutMilliseconds))
        deadline = .milliseconds(Int64(settings.queryTimeoutMilliseconds))
        udpSize = UInt16(settings.ednsUDPSize)
        queries = try UpstreamQueryBuilder(udpSize: udpSize)
        outgoing = try settings.outgoing.map { try SocketAddress(ipAddress: $0, port: 0) }
    }

    /// The upstreams in the order this query tries them: by strategy, then down ones last.
    func order(now: NIODeadline) -> [Int] {
        var indices = Array(targets.indices)
        switch strategy {
        case .ordered:
            break
        case .round_robin:
            let start = turn.loadThenWrappingIncrement(ordering: .relaxed) % max(1, targets.count)
            indices = Array(indices[start...] + indices[..<start])
        case .fastest:
            let count = turn.loadThenWrappingIncrement(ordering: .relaxed)
            // Unmeasured upstreams sort first so that each gets measured.
            indices.sort { targets[$0].health.smoothedMicroseconds.load(ordering: .relaxed)
                < targets[$1].health.smoothedMicroseconds.load(ordering: .relaxed) }
            if indices.count > 1 && count % Self.probeEvery == 0 {
                let probe = 1 + (count / Self.probeEvery) % (indices.count - 1)
                indices.swapAt(0, probe)
            }
        }
        let up = indices.filter { !targets[$0].health.isDown(now: now) }
        return up + indices.filter { targets[$0].health.isDown(now: now) }
    }

    /// Sends `question` upstream (`UpstreamQueryBuilder`: RD, the client's DO and CD) and calls
    /// `completion` once, on `eventLoop`, with the reply as the upstream sent it (our ID in it) or
    /// the failure of every try.
    ///
    /// Written with callbacks rather than future combinators: a cache miss is the slow path, but
    /// each future allocated and released costs about as much as answering a blocked name.
    func forward(_ question: Question, dnssecOK: Bool, checkingDisabled: Bool, on eventLoop: EventLoop,
                 sockets: UpstreamSocketPool? = nil, logger: Logger,
                 completion: @escaping (Result<ReplyParser.Reply, Error>) -> Void) {
        let query = queries.query(question, dnssecOK: dnssecOK, checkingDisabled: checkingDisabled)
        let now = NIODeadline.now()
        attempt(order(now: now)[...], query: query, question: question, deadline: now + deadline, reasons: [],
                on: eventLoop, sockets: sockets, logger: logger, completion: completion)
    }

    private func attempt(_ remaining: ArraySlice<Int>, query: [UInt8], question: Question, deadline: NIODeadline,
                         reasons: [String], on eventLoop: EventLoop, sockets: UpstreamSocketPool?, logger: Logger,
                         completion: @escaping (Result<ReplyParser.Reply, Error>) -> Void) {
        let now = NIODeadline.now()
        guard let index = remaining.first, deadline > now else {
            let why = remaining.isEmpty ? reasons : reasons + ["query deadline reached"]
            return completion(.failure(UpstreamError.all(why)))
        }
        let target = targets[index]
        let budget = min(timeout, deadline - now)
        let started = now
        let succeeded = { (answer: ReplyParser.Reply) in
            let latency = NIODeadline.now() - started
            target.health.recordSuccess(latency: latency)
            target.metrics?.queries.increment()
            target.metrics?.duration.recordNanoseconds(latency.nanoseconds)
            completion(.success(answer))
        }
        let failed = { (error: Error) in
            target.metrics?.queries.increment()
            target.metrics?.failures.increment()
            if target.health.recordFailure(now: NIODeadline.now(), downFor: Self.downTime) {
                logger.warning("upstream marked down", metadata: ["upstream": "\(target.name)", "error": "\(error)"])
                self.probe(index, on: eventLoop, logger: logger, delay: .seconds(1))
            }
            self.attempt(remaining.dropFirst(), query: query, question: question, deadline: deadline,
                         reasons: reasons + ["\(target.name): \(error)"], on: eventLoop, sockets: sockets,
                         logger: logger, completion: completion)
        }
        exchange(query, question: question, target: target, overTCP: target.tcpOnly, budget: budget, on: eventLoop,
                 sockets: sockets) { result in
            switch result {
            case .success(let answer) where answer.truncated && !target.tcpOnly:
                // Truncated over UDP: the same upstream again over TCP.
                let left = deadline - NIODeadline.now()
                self.exchange(query, question: question, target: target, overTCP: true,
                              budget: min(self.timeout, max(.milliseconds(1), left)), on: eventLoop) { result in
                    switch result {
                    case .success(let answer): succeeded(answer)
                    case .failure(let error): failed(error)
                    }
                }
            case .success(let answer):
                succeeded(answer)
            case .failure(let error):
                failed(error)
            }
        }
    }

    /// Asks a down upstream for the root's NS now and then, until it answers.
    private func probe(_ index: Int, on eventLoop: EventLoop, logger: Logger, delay: TimeAmount) {
        let target = targets[index]
        guard target.health.probing.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
        else { return }
        let root = Question(name: [0], type: 2, class: 1)
        let query = queries.query(root, dnssecOK: false, checkingDisabled: false)
        eventLoop.scheduleTask(in: delay) {
            let started = NIODeadline.now()
            self.exchange(query, question: root, target: target, overTCP: target.tcpOnly, budget: self.timeout,
                          on: eventLoop) { result in
                target.health.probing.store(false, ordering: .relaxed)
                switch result {
                case .success:
                    target.health.recordSuccess(latency: NIODeadline.now() - started)
                    logger.info("upstream answers again", metadata: ["upstream": "\(target.name)"])
                case .failure:
                    _ = target.health.recordFailure(now: NIODeadline.now(), downFor: Self.downTime)
                    self.probe(index, on: eventLoop, logger: logger, delay: min(.seconds(30), delay * 2))
                }
            }
        }
    }

    /// One query to one upstream, bounded by `budget`: over UDP on a socket of the loop's pool
    /// when there is one, else (TCP, or no pool yet) over a fresh socket of its own; over TLS on
    /// the loop's kept connection to that upstream (without a pool: a connection for this query).
    private func exchange(_ query: [UInt8], question: Question, target: Target, overTCP: Bool, budget: TimeAmount,
                          on eventLoop: EventLoop, sockets: UpstreamSocketPool? = nil,
                          completion: @escaping (Result<ReplyParser.Reply, Error>) -> Void) {
        if let tls = target.tls {
            let ipv6 = target.address.protocol == .inet6
            let source = outgoing.isEmpty ? nil : UpstreamSocketPool.source(ipv6: ipv6, outgoing: outgoing)
            if let sockets, sockets.eventLoop === eventLoop {
                sockets.tlsConnection(to: target, tls: tls, source: source)
                    .send(query, question: question, budget: budget, completion: completion)
            } else {
                let connection = TLSUpstreamConnection(eventLoop: eventLoop, address: target.address, tls: tls,
                                                       source: source)
                let bound = NIOLoopBound(completion, eventLoop: eventLoop)
                eventLoop.execute {
                    connection.send(query, question: question, budget: budget) { result in
                        connection.close()
                        bound.value(result)
                    }
                }
            }
            return
        }
        if !overTCP, let sockets, sockets.eventLoop === eventLoop,
           sockets.send(query, question: question, to: target.address, budget: budget, completion: completion) {
            return
        }
        let id = UInt16.random(in: 0...UInt16.max)
        var buffer = ByteBufferAllocator().buffer(bytes: query)
        DNSHeader.setID(id, in: &buffer)
        let message = buffer
        let upstream = target.address
        let promise = eventLoop.makePromise(of: ReplyParser.Reply.self)
        let timer = eventLoop.scheduleTask(in: budget) { promise.fail(UpstreamError.timeout) }
        let ipv6 = upstream.protocol == .inet6
        let source = outgoing.isEmpty ? nil : UpstreamSocketPool.source(ipv6: ipv6, outgoing: outgoing)
        let channel: EventLoopFuture<Channel>
        if overTCP {
            var bootstrap = ClientBootstrap(group: eventLoop)
            if let source { bootstrap = bootstrap.bind(to: source) }
            channel = bootstrap
                .connectTimeout(budget)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(
                            UpstreamExchangeHandler<ByteBuffer>(id: id, question: question, upstream: upstream,
                                                                promise: promise))
                    }
                }
                .connect(to: upstream)
                .flatMap { channel in
                    var framed = channel.allocator.buffer(capacity: message.readableBytes + 2)
                    framed.writeDNSFrame(message)
                    return channel.writeAndFlush(framed).map { channel }
                }
        } else {
            let bootstrap = DatagramBootstrap(group: eventLoop)
                // NIO's default 2048-byte buffer would silently cut larger answers (DNSSEC, big TXT).
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_535))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            UpstreamExchangeHandler<AddressedEnvelope<ByteBuffer>>(
                                id: id, question: question, upstream: upstream, promise: promise))
                    }
                }
            // With an `outgoing` address the socket is bound to it first, then connected.
            let connected = source.map { source in
                bootstrap.bind(to: source).flatMap { channel in channel.connect(to: upstream).map { channel } }
            } ?? bootstrap.connect(to: upstream)
            channel = connected.flatMap { channel in
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: upstream, data: message)).map { channel }
            }
        }
        channel.whenFailure { promise.fail($0) }
        // The promise completes on `eventLoop`, where `completion` belongs.
        let bound = NIOLoopBound(completion, eventLoop: eventLoop)
        promise.futureResult.whenComplete { result in
            timer.cancel()
            channel.whenSuccess { $0.close(promise: nil) }
            bound.value(result)
        }
    }
}

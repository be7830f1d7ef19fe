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
final class UpstreamPool: Sendable {
    struct Target: Sendable {
        let address: SocketAddress
        let name: String
        let tcpOnly: Bool
        let health = UpstreamHealth()
        let metrics: UpstreamMetrics?
    }

    struct Answer {
        let message: ByteBuffer
        let reply: ReplyParser.Reply
    }

    let targets: [Target]
    let strategy: ResolverSettings.UpstreamStrategy
    let timeout: TimeAmount
    let deadline: TimeAmount
    let udpSize: UInt16
    private let turn = ManagedAtomic<Int>(0)

    /// How long a down upstream is skipped before live queries try it again.
    static let downTime = TimeAmount.seconds(5)
    /// One query in this many tries a random other upstream first under `fastest`.
    static let probeEvery = 32

    init(settings: ResolverSettings, metrics: ResolverMetrics? = nil) throws {
        targets = try settings.upstreams.map {
            Target(address: try SocketAddress(ipAddress: $0.address.host, port: $0.address.port),
                   name: $0.address.description, tcpOnly: $0.tcp, metrics: metrics?.upstream($0.address.description))
        }
        strategy = settings.upstreamStrategy
        timeout = .milliseconds(Int64(settings.timeoutMilliseconds))
        deadline = .milliseconds(Int64(settings.queryTimeoutMilliseconds))
        udpSize = UInt16(settings.ednsUDPSize)
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

    /// Sends `question` upstream (a query made by ldns with the client's DO and CD bits) and
    /// returns the reply as the upstream sent it, with our ID in it.
    func forward(_ question: Question, dnssecOK: Bool, checkingDisabled: Bool, on eventLoop: EventLoop,
                 sockets: UpstreamSocketPool? = nil, logger: Logger) -> EventLoopFuture<Answer> {
        let query: [UInt8]
        do {
            query = try QueryBuilder.upstreamQuery(question, dnssecOK: dnssecOK, checkingDisabled: checkingDisabled,
                                                   udpSize: udpSize)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        let now = NIODeadline.now()
        return attempt(order(now: now)[...], query: query, question: question, deadline: now + deadline, reasons: [],
                       on: eventLoop, sockets: sockets, logger: logger)
    }

    private func attempt(_ remaining: ArraySlice<Int>, query: [UInt8], question: Question, deadline: NIODeadline,
                         reasons: [String], on eventLoop: EventLoop, sockets: UpstreamSocketPool?,
                         logger: Logger) -> EventLoopFuture<Answer> {
        let now = NIODeadline.now()
        guard let index = remaining.first, deadline > now else {
            let why = remaining.isEmpty ? reasons : reasons + ["query deadline reached"]
            return eventLoop.makeFailedFuture(UpstreamError.all(why))
        }
        let target = targets[index]
        let budget = min(timeout, deadline - now)
        let started = NIODeadline.now()
        return exchange(query, question: question, target: target, overTCP: target.tcpOnly, budget: budget,
                        on: eventLoop, sockets: sockets)
            .flatMap { answer -> EventLoopFuture<Answer> in
                guard answer.reply.truncated, !target.tcpOnly else { return eventLoop.makeSucceededFuture(answer) }
                let left = deadline - NIODeadline.now()
                return self.exchange(query, question: question, target: target, overTCP: true,
                                     budget: min(self.timeout, max(.milliseconds(1), left)), on: eventLoop)
            }
            .map { answer in
                let latency = NIODeadline.now() - started
                target.health.recordSuccess(latency: latency)
                target.metrics?.queries.increment()
                target.metrics?.duration.recordNanoseconds(latency.nanoseconds)
                return answer
            }
            .flatMapError { error in
                target.metrics?.queries.increment()
                target.metrics?.failures.increment()
                if target.health.recordFailure(now: NIODeadline.now(), downFor: Self.downTime) {
                    logger.warning("upstream marked down", metadata: ["upstream": "\(target.name)", "error": "\(error)"])
                    self.probe(index, on: eventLoop, logger: logger, delay: .seconds(1))
                }
                return self.attempt(remaining.dropFirst(), query: query, question: question, deadline: deadline,
                                    reasons: reasons + ["\(target.name): \(error)"], on: eventLoop, sockets: sockets,
                                    logger: logger)
            }
    }

    /// Asks a down upstream for the root's NS now and then, until it answers.
    private func probe(_ index: Int, on eventLoop: EventLoop, logger: Logger, delay: TimeAmount) {
        let target = targets[index]
        guard target.health.probing.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
        else { return }
        let root = Question(name: [0], type: 2, class: 1)
        guard let query = try? QueryBuilder.upstreamQuery(root, dnssecOK: false, checkingDisabled: false, udpSize: udpSize)
        else { return }
        eventLoop.scheduleTask(in: delay) {
            let started = NIODeadline.now()
            self.exchange(query, question: root, target: target, overTCP: target.tcpOnly, budget: self.timeout,
                          on: eventLoop).whenComplete { result in
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
    /// when there is one, else (TCP, or no pool yet) over a fresh socket of its own.
    private func exchange(_ query: [UInt8], question: Question, target: Target, overTCP: Bool, budget: TimeAmount,
                          on eventLoop: EventLoop, sockets: UpstreamSocketPool? = nil) -> EventLoopFuture<Answer> {
        if !overTCP, let sockets, sockets.eventLoop === eventLoop,
           let answer = sockets.send(query, question: question, to: target.address, budget: budget) {
            return answer
        }
        let id = UInt16.random(in: 0...UInt16.max)
        var buffer = ByteBufferAllocator().buffer(bytes: query)
        buffer.setInteger(id, at: 0)
        let message = buffer
        let upstream = target.address
        let promise = eventLoop.makePromise(of: Answer.self)
        let timer = eventLoop.scheduleTask(in: budget) { promise.fail(UpstreamError.timeout) }
        let channel: EventLoopFuture<Channel>
        if overTCP {
            channel = ClientBootstrap(group: eventLoop)
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
            channel = DatagramBootstrap(group: eventLoop)
                // NIO's default 2048-byte buffer would silently cut larger answers (DNSSEC, big TXT).
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_535))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            UpstreamExchangeHandler<AddressedEnvelope<ByteBuffer>>(
                                id: id, question: question, upstream: upstream, promise: promise))
                    }
                }
                .connect(to: upstream)
                .flatMap { channel in
                    channel.writeAndFlush(AddressedEnvelope(remoteAddress: upstream, data: message)).map { channel }
                }
        }
        channel.whenFailure { promise.fail($0) }
        promise.futureResult.whenComplete { _ in
            timer.cancel()
            channel.whenSuccess { $0.close(promise: nil) }
        }
        return promise.futureResult
    }
}

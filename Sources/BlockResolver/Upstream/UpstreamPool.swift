import NIOCore
import NIOPosix
import ResolverConfig

/// Forwards queries to the configured upstreams in order and returns the first good answer.
///
/// Each try opens its own UDP socket on a kernel-chosen random port and uses a fresh random ID,
/// then accepts only a reply from the upstream's address with that ID and the same question
/// (RFC 5452). A truncated UDP answer is asked again over TCP from the same upstream. A try
/// that gets no answer within the timeout, or an error, moves on to the next upstream.
final class UpstreamPool: Sendable {
    let upstreams: [SocketAddress]
    let timeout: TimeAmount

    init(upstreams: [HostPort], timeoutMilliseconds: Int) throws {
        self.upstreams = try upstreams.map { try SocketAddress(ipAddress: $0.host, port: $0.port) }
        self.timeout = .milliseconds(Int64(timeoutMilliseconds))
    }

    /// Sends `query` (the client's message; its ID is replaced) for `question` and returns the
    /// reply as the upstream sent it, with our ID still in it.
    func forward(query: ByteBuffer, question: Question, on eventLoop: EventLoop) -> EventLoopFuture<ByteBuffer> {
        tryUpstream(0, query: query, question: question, reasons: [], on: eventLoop)
    }

    private func tryUpstream(_ index: Int, query: ByteBuffer, question: Question, reasons: [String],
                             on eventLoop: EventLoop) -> EventLoopFuture<ByteBuffer> {
        guard index < upstreams.count else { return eventLoop.makeFailedFuture(UpstreamError.all(reasons)) }
        let upstream = upstreams[index]
        return exchange(query: query, question: question, upstream: upstream, overTCP: false, on: eventLoop)
            .flatMap { reply -> EventLoopFuture<ByteBuffer> in
                let truncated = reply.getInteger(at: reply.readerIndex + 2, as: UInt16.self).map { $0 & 0x0200 != 0 }
                if truncated == true {
                    return self.exchange(query: query, question: question, upstream: upstream, overTCP: true,
                                         on: eventLoop)
                }
                return eventLoop.makeSucceededFuture(reply)
            }
            .flatMapError { error in
                self.tryUpstream(index + 1, query: query, question: question,
                                 reasons: reasons + ["\(upstream): \(error)"], on: eventLoop)
            }
    }

    /// One query to one upstream over one fresh socket, bounded by `timeout`.
    private func exchange(query: ByteBuffer, question: Question, upstream: SocketAddress, overTCP: Bool,
                          on eventLoop: EventLoop) -> EventLoopFuture<ByteBuffer> {
        let id = UInt16.random(in: 0...UInt16.max)
        var rewritten = query
        rewritten.setInteger(id, at: rewritten.readerIndex)
        let message = rewritten
        let promise = eventLoop.makePromise(of: ByteBuffer.self)
        let timeout = eventLoop.scheduleTask(in: timeout) { promise.fail(UpstreamError.timeout) }
        let channel: EventLoopFuture<Channel>
        if overTCP {
            channel = ClientBootstrap(group: eventLoop)
                .connectTimeout(self.timeout)
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
            timeout.cancel()
            channel.whenSuccess { $0.close(promise: nil) }
        }
        return promise.futureResult
    }
}

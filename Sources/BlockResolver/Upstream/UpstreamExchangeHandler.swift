import NIOCore

/// Waits on one upstream socket for the reply to one query and completes `promise` with it.
///
/// Anything that does not match (wrong source address, ID or question; RFC 5452) is ignored, so a
/// spoofed or stale datagram cannot stand in for the answer. Used for UDP (datagrams) and TCP
/// (frames from `DNSFrameDecoder`): both arrive as one message per read.
final class UpstreamExchangeHandler<Inbound: UpstreamInbound>: ChannelInboundHandler {
    typealias InboundIn = Inbound

    private let id: UInt16
    private let question: Question
    private let upstream: SocketAddress
    private let promise: EventLoopPromise<ReplyParser.Reply>

    init(id: UInt16, question: Question, upstream: SocketAddress, promise: EventLoopPromise<ReplyParser.Reply>) {
        self.id = id
        self.question = question
        self.upstream = upstream
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let inbound = Self.unwrapInboundIn(data)
        if let sender = inbound.sender, sender != upstream { return }
        let message = inbound.dnsMessage
        let reply = message.withUnsafeReadableBytes { bytes in
            ReplyParser.check(bytes, id: id, question: question)
        }
        if let reply { promise.succeed(reply) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP port unreachable and the like: this upstream will not answer; try the next one.
        promise.fail(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(UpstreamError.closedWithoutAnswer)
        context.fireChannelInactive()
    }
}

/// What an upstream socket reads: a datagram with its sender, or a TCP frame.
protocol UpstreamInbound {
    var dnsMessage: ByteBuffer { get }
    /// The sender's address; nil on TCP, where the connection fixes it.
    var sender: SocketAddress? { get }
}

extension AddressedEnvelope<ByteBuffer>: UpstreamInbound {
    var dnsMessage: ByteBuffer { data }
    var sender: SocketAddress? { remoteAddress }
}

extension ByteBuffer: UpstreamInbound {
    var dnsMessage: ByteBuffer { self }
    var sender: SocketAddress? { nil }
}

import NIOCore

/// Answers datagrams on one UDP socket (one per event loop and listen address, SO_REUSEPORT).
///
/// Answers made at once are written as they come and flushed once per read batch, so NIO can
/// send them together; forwarded answers are written when the upstream replies. Nothing one
/// datagram does can stop the socket: bad input is answered or dropped by `QueryPipeline`.
final class UDPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let pipeline: QueryPipeline
    private let loop: LoopContext
    private var pendingFlush = false

    init(pipeline: QueryPipeline, loop: LoopContext) {
        self.pipeline = pipeline
        self.loop = loop
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = Self.unwrapInboundIn(data)
        switch pipeline.respond(to: envelope.data, transport: .udp, client: envelope.remoteAddress, loop: loop,
                                allocator: context.channel.allocator) {
        case .none:
            break
        case .now(let reply):
            context.write(NIOAny(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: reply)),
                          promise: nil)
            pendingFlush = true
        case .later(let later):
            let channel = context.channel
            let client = envelope.remoteAddress
            later.whenReady { reply in
                guard let reply else { return }
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: client, data: reply), promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pendingFlush {
            pendingFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A failed send to one client (ICMP unreachable, buffer full) concerns that client only;
        // the socket keeps serving everyone else.
    }
}

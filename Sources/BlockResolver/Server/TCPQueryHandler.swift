import NIOCore

/// Answers the DNS messages of one TCP connection (RFC 7766): several queries may be in flight at
/// once and their answers go out as each is ready, not in order. The connection is closed after
/// the idle timeout when nothing is pending, so a client that sends half a frame and stops only
/// holds its own connection, and only for that long.
final class TCPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Queries in flight on one connection before it stops reading more (backpressure).
    static let maxPending = 64

    private let resolver: QueryResolver
    private var pending = 0
    private var readPaused = false

    init(resolver: QueryResolver) {
        self.resolver = resolver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = Self.unwrapInboundIn(data)
        switch resolver.respond(to: message, transport: .tcp, eventLoop: context.eventLoop,
                                allocator: context.channel.allocator) {
        case .none:
            break
        case .now(let reply):
            write(reply, context: context)
        case .later(let future):
            pending += 1
            if pending >= Self.maxPending {
                readPaused = true
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            future.whenComplete { result in
                let (handler, context) = bound.value
                handler.pending -= 1
                if case .success(let reply?) = result, context.channel.isActive {
                    handler.write(reply, context: context)
                }
                if handler.readPaused && handler.pending < Self.maxPending / 2 {
                    handler.readPaused = false
                    context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                }
            }
        }
    }

    private func write(_ reply: ByteBuffer, context: ChannelHandlerContext) {
        var framed = context.channel.allocator.buffer(capacity: reply.readableBytes + 2)
        framed.writeDNSFrame(reply)
        context.writeAndFlush(Self.wrapOutboundOut(framed), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if pending == 0 { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // One broken connection (reset, bad frame) is closed; no other client is affected.
        context.close(promise: nil)
    }
}

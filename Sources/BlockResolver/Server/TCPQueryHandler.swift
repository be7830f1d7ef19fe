import NIOCore

/// Answers the DNS messages of one TCP or DNS-over-TLS connection (RFC 7766, RFC 7858: the
/// same framing inside TLS, decrypted by the `NIOSSLServerHandler` in front of it): several queries may be in flight at
/// once and their answers go out as each is ready, not in order. The connection is closed after
/// the idle timeout when nothing is pending, so a client that sends half a frame and stops only
/// holds its own connection, and only for that long.
///
/// Backpressure: reading pauses while `maxPending` forwarded queries wait or while the client is
/// not reading its answers (the channel is not writable). Frames already decoded from the read
/// that crossed the limit are still answered, never dropped: work a client was allowed to send is
/// finished, and what one read can hold bounds it.
final class TCPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let maxPending = 64

    private let pipeline: QueryPipeline
    private let loop: LoopContext
    private let connections: TCPConnectionRegistry
    private let maxConnections: Int
    private let transport: Transport
    /// This connection in the loop's registry (for `tcp.max_connections`).
    private var record: TCPConnectionRegistry.Record?
    private var pending = 0 {
        didSet { record?.pending = pending }
    }
    private var inputClosed = false

    init(pipeline: QueryPipeline, loop: LoopContext, connections: TCPConnectionRegistry, maxConnections: Int,
         transport: Transport = .tcp) {
        self.pipeline = pipeline
        self.transport = transport
        self.loop = loop
        self.connections = connections
        self.maxConnections = maxConnections
    }

    func channelActive(context: ChannelHandlerContext) {
        record = connections.admit(context.channel, limit: maxConnections, now: .now())
        if record == nil {
            context.close(promise: nil)  // over the limit and no idle connection to make room
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connections.remove(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = Self.unwrapInboundIn(data)
        record?.lastActivity = .now()
        // Over DoT, a client that pads its query gets a padded answer (RFC 7830, RFC 8467).
        let pad = transport.isEncrypted && EDNSPadding.requested(message)
        switch pipeline.respond(to: message, transport: transport, client: context.remoteAddress, loop: loop,
                                allocator: context.channel.allocator) {
        case .none:
            break
        case .now(let reply):
            write(reply, padded: pad, context: context)
        case .later(let later):
            pending += 1
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            later.whenReady { reply in
                let (handler, context) = bound.value
                handler.pending -= 1
                if let reply, context.channel.isActive {
                    handler.write(reply, padded: pad, context: context)
                }
                handler.updateReading(context: context)
            }
        }
        updateReading(context: context)
    }

    private func write(_ reply: ByteBuffer, padded: Bool, context: ChannelHandlerContext) {
        let reply = padded ? EDNSPadding.padded(reply, allocator: context.channel.allocator) : reply
        var framed = context.channel.allocator.buffer(capacity: reply.readableBytes + 2)
        framed.writeDNSFrame(reply)
        context.writeAndFlush(Self.wrapOutboundOut(framed), promise: nil)
    }

    /// Reads while there is room for more queries and the client takes its answers; closes a
    /// connection whose client has finished sending once every answer is written.
    private func updateReading(context: ChannelHandlerContext) {
        if inputClosed {
            if pending == 0 { context.close(promise: nil) }
            return
        }
        let shouldRead = pending < Self.maxPending && context.channel.isWritable
        context.channel.setOption(ChannelOptions.autoRead, value: shouldRead).whenComplete { _ in }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        updateReading(context: context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if pending == 0 { context.close(promise: nil) }
            return
        }
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The client half-closed after its last query (`nc -N`): answer what it sent, then close.
            inputClosed = true
            updateReading(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // One broken connection (reset, bad frame) is closed; no other client is affected.
        context.close(promise: nil)
    }
}

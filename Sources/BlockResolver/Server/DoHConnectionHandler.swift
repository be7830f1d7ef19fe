import NIOCore

/// The connection of a DoH client, in front of its TLS handler: it holds the connection's place
/// in the loop's `TCPConnectionRegistry` (so `tcp.max_connections` counts TCP, DoT and DoH
/// together) and closes the connection at the idle timeout when no query of it is pending.
/// Every stream's `DoHQueryHandler` reports its queries here. Confined to the connection's loop
/// (HTTP/2 stream channels share their connection's loop).
final class DoHConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connections: TCPConnectionRegistry
    private let maxConnections: Int
    private var record: TCPConnectionRegistry.Record?

    init(connections: TCPConnectionRegistry, maxConnections: Int) {
        self.connections = connections
        self.maxConnections = maxConnections
    }

    func active() { record?.lastActivity = .now() }
    func began() { record?.pending += 1 }
    func ended() { record?.pending -= 1 }

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

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // A client stalled in its TLS handshake, or done asking: it holds only its own place.
            if (record?.pending ?? 0) == 0 { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A broken connection (reset, a failed handshake) is closed; no other client is affected.
        context.close(promise: nil)
    }
}

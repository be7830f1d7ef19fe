import NIOCore

/// How many connections the metrics endpoint has open. Used only on the metrics server's one
/// event loop, so a plain counter: that is why it is `@unchecked Sendable`.
final class MetricsConnectionGate: @unchecked Sendable {
    let limit: Int
    var open = 0

    init(limit: Int) {
        self.limit = limit
    }
}

/// The first handler of a metrics connection: closes it on accept when `gate` is full, when it
/// has been idle too long (`IdleStateHandler`'s event), and stops reading while the client does
/// not take its responses (the channel is not writable), so unread responses stay bounded.
final class MetricsConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let gate: MetricsConnectionGate
    private var admitted = false

    init(gate: MetricsConnectionGate) {
        self.gate = gate
    }

    func channelActive(context: ChannelHandlerContext) {
        guard gate.open < gate.limit else {
            context.close(promise: nil)
            return
        }
        gate.open += 1
        admitted = true
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted {
            gate.open -= 1
            admitted = false
        }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenComplete { _ in }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

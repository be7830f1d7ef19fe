import NIOCore
import NIOPosix
import NIOSSL

/// One kept TLS connection to one upstream from one event loop (RFC 7858, RFC 7766): queries are
/// pipelined on it, each with a random ID not in flight on it, and a reply is taken only for the
/// ID and question asked (RFC 5452; the connection fixes the address). It connects on first use
/// and again on the first query after it closed or failed; a failure fails every query waiting on
/// it, so each moves on to the next upstream as after a UDP timeout. Confined to its event loop.
final class TLSUpstreamConnection: @unchecked Sendable {
    /// One query waiting for its reply, and its timer.
    final class Waiter: NIOScheduledCallbackHandler, @unchecked Sendable {
        let id: UInt16
        let question: Question
        let completion: (Result<ReplyParser.Reply, Error>) -> Void
        var timer: NIOScheduledCallback?
        unowned let connection: TLSUpstreamConnection

        init(id: UInt16, question: Question, connection: TLSUpstreamConnection,
             completion: @escaping (Result<ReplyParser.Reply, Error>) -> Void) {
            self.id = id
            self.question = question
            self.connection = connection
            self.completion = completion
        }

        func handleScheduledCallback(eventLoop: some EventLoop) {
            timer = nil
            connection.finish(id, with: .failure(UpstreamError.timeout))
        }
    }

    /// Queries waiting on one connection at most; more fail at once (the next upstream is tried).
    static let maxWaiting = 1_000

    let eventLoop: EventLoop
    private let address: SocketAddress
    private let tls: UpstreamTLSClient
    private let source: SocketAddress?
    private var channel: Channel?
    private var connecting = false
    /// Frames written before the connection is up.
    private var queued: [ByteBuffer] = []
    private var waiting: [UInt16: Waiter] = [:]
    private var closed = false

    init(eventLoop: EventLoop, address: SocketAddress, tls: UpstreamTLSClient, source: SocketAddress?) {
        self.eventLoop = eventLoop
        self.address = address
        self.tls = tls
        self.source = source
    }

    /// Sends `query` (its ID replaced) and calls `completion` on this loop with the checked reply
    /// or the reason there is none, within `budget`.
    func send(_ query: [UInt8], question: Question, budget: TimeAmount,
              completion: @escaping (Result<ReplyParser.Reply, Error>) -> Void) {
        eventLoop.assertInEventLoop()
        guard !closed else { return completion(.failure(UpstreamError.closedWithoutAnswer)) }
        guard waiting.count < Self.maxWaiting else { return completion(.failure(UpstreamError.busy)) }
        var id = UInt16.random(in: 0...UInt16.max)
        while waiting[id] != nil { id = UInt16.random(in: 0...UInt16.max) }
        var message = ByteBufferAllocator().buffer(bytes: query)
        DNSHeader.setID(id, in: &message)
        var frame = ByteBufferAllocator().buffer(capacity: message.readableBytes + 2)
        frame.writeDNSFrame(message)
        let waiter = Waiter(id: id, question: question, connection: self, completion: completion)
        waiter.timer = try? eventLoop.scheduleCallback(in: budget, handler: waiter)
        waiting[id] = waiter
        if let channel {
            channel.writeAndFlush(frame, promise: nil)
        } else {
            queued.append(frame)
            connect(budget: budget)
        }
    }

    private func connect(budget: TimeAmount) {
        guard !connecting else { return }
        connecting = true
        var bootstrap = ClientBootstrap(group: eventLoop)
        if let source { bootstrap = bootstrap.bind(to: source) }
        let tls = self.tls
        bootstrap
            .connectTimeout(budget)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname))
                    try sync.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
                    try sync.addHandler(TLSUpstreamHandler(connection: self))
                }
            }
            .connect(to: address)
            .whenComplete { result in
                self.connecting = false
                switch result {
                case .success(let channel):
                    if self.closed { channel.close(promise: nil); return }
                    self.channel = channel
                    // Written now, sent once the handshake is done (NIOSSL holds them until then).
                    for frame in self.queued { channel.write(frame, promise: nil) }
                    self.queued = []
                    channel.flush()
                case .failure(let error):
                    self.queued = []
                    self.failAll(error)
                }
            }
    }

    /// A frame from the upstream: the reply of the waiter with its ID, when it answers that question.
    fileprivate func received(_ frame: ByteBuffer) {
        guard let id = DNSHeader.id(of: frame), let waiter = waiting[id] else { return }
        let reply = frame.withUnsafeReadableBytes { ReplyParser.check($0, id: id, question: waiter.question) }
        guard let reply else { return }  // not the answer to that question: keep waiting
        finish(id, with: .success(reply))
    }

    /// The connection closed or failed (a refused certificate, a reset, the upstream's idle close).
    fileprivate func ended(_ channel: Channel, error: Error?) {
        // A late close of an earlier connection must not fail the queries of the next one.
        guard self.channel === channel || (self.channel == nil && !connecting) else { return }
        self.channel = nil
        failAll(error ?? UpstreamError.closedWithoutAnswer)
    }

    fileprivate func finish(_ id: UInt16, with result: Result<ReplyParser.Reply, Error>) {
        guard let waiter = waiting.removeValue(forKey: id) else { return }
        waiter.timer?.cancel()
        waiter.completion(result)
    }

    private func failAll(_ error: Error) {
        for id in Array(waiting.keys) { finish(id, with: .failure(error)) }
    }

    /// Closes the connection for good (shutdown, or a one-off connection once answered).
    func close() {
        eventLoop.execute {
            self.closed = true
            self.channel?.close(promise: nil)
            self.channel = nil
            self.failAll(UpstreamError.closedWithoutAnswer)
        }
    }
}

/// Hands the frames of one upstream TLS connection to its `TLSUpstreamConnection`.
private final class TLSUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: TLSUpstreamConnection
    private var error: Error?

    init(connection: TLSUpstreamConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.received(Self.unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A refused certificate, a reset: remembered for the waiting queries, then closed.
        if self.error == nil { self.error = error }
        connection.ended(context.channel, error: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.ended(context.channel, error: error)
        context.fireChannelInactive()
    }
}

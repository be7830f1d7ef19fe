import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ResolverConfig

/// The HTTP endpoint on `metrics.listen`: `GET /metrics` (Prometheus text, from swift-prometheus),
/// `GET /monitor` (monitor-mode hits per list and per name, JSON, for the compliance team) and
/// `GET /health`.
///
/// It runs on an event loop of its own, never on the DNS loops, so a slow or hostile scraper
/// cannot delay a DNS answer; and it bounds what a scraper can hold: `maxConnections` at once
/// (more are closed on accept), each closed after `idleTimeout` without a request, and reading
/// stops while a connection's unread responses pass the write buffer's high-water mark (a client
/// that pipelines requests and never reads gets no more than that buffered).
final class MetricsServer: Sendable {
    static let maxConnections = 64
    static let idleTimeout = TimeAmount.seconds(5)
    static let writeBuffer = WriteBufferWaterMark(low: 64 << 10, high: 256 << 10)

    let channel: Channel
    private let group: MultiThreadedEventLoopGroup

    private init(channel: Channel, group: MultiThreadedEventLoopGroup) {
        self.channel = channel
        self.group = group
    }

    static func start(address: HostPort, metrics: ResolverMetrics, monitor: MonitorCounter) async throws -> MetricsServer {
        let socketAddress = try SocketAddress(ipAddress: address.host, port: address.port)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // One loop: the gate counts its connections without a lock.
        let gate = MetricsConnectionGate(limit: maxConnections)
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.writeBufferWaterMark, value: writeBuffer)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        // The idle handler first: its event travels towards the tail, to the gate.
                        try sync.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                        try sync.addHandler(MetricsConnectionHandler(gate: gate))
                        try sync.configureHTTPServerPipeline()
                        try sync.addHandler(MetricsHTTPHandler(metrics: metrics, monitor: monitor))
                    }
                }
                .bind(to: socketAddress).get()
            return MetricsServer(channel: channel, group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    func close() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    /// Monitor counts as JSON: per list, the total and the names with the most hits.
    static func monitorJSON(_ counts: MonitorCounter.Counts, top: Int = 100) -> [UInt8] {
        var lists: [String: Any] = [:]
        for (list, hits) in counts.perList {
            let names = (counts.perEntry[list] ?? [:]).sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .prefix(top).map { ["name": $0.key, "hits": $0.value] as [String: Any] }
            lists[list] = ["hits": hits, "top": names]
        }
        let data = (try? JSONSerialization.data(withJSONObject: ["lists": lists], options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data) + [UInt8(ascii: "\n")]
    }
}

/// Answers one HTTP request at a time on a connection to the metrics port.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: ResolverMetrics
    private let monitor: MonitorCounter
    private var request: HTTPRequestHead?

    init(metrics: ResolverMetrics, monitor: MonitorCounter) {
        self.metrics = metrics
        self.monitor = monitor
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
            let (status, type, body): (HTTPResponseStatus, String, [UInt8])
            switch (head.method, path) {
            case (.GET, "/metrics"):
                (status, type, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition())
            case (.GET, "/monitor"):
                (status, type, body) = (.ok, "application/json", MetricsServer.monitorJSON(monitor.snapshot))
            case (.GET, "/health"):
                (status, type, body) = (.ok, "text/plain", Array("ok\n".utf8))
            case (.GET, _):
                (status, type, body) = (.notFound, "text/plain", Array("not found: try /metrics, /monitor or /health\n".utf8))
            default:
                (status, type, body) = (.methodNotAllowed, "text/plain", Array("GET only\n".utf8))
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(body.count))
            context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status,
                                                                       headers: headers))), promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))),
                          promise: nil)
            let keepAlive = head.isKeepAlive
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)  // a broken scrape connection concerns nobody else
    }
}

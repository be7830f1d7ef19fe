import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ResolverConfig

/// The HTTP endpoint on `metrics.listen`: `GET /metrics` (Prometheus text, from swift-prometheus),
/// `GET /monitor` (monitor-mode hits per list and per name, JSON, for the compliance team) and
/// `GET /health`.
enum MetricsServer {
    static func start(address: HostPort, metrics: ResolverMetrics, monitor: MonitorCounter,
                      group: EventLoopGroup) async throws -> Channel {
        let socketAddress = try SocketAddress(ipAddress: address.host, port: address.port)
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics, monitor: monitor))
                }
            }
            .bind(to: socketAddress).get()
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

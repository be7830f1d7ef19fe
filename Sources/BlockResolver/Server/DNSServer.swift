#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import ResolverConfig

/// The listening sockets: for every `listen` address, one UDP socket per event loop (bound with
/// SO_REUSEPORT, so the kernel spreads datagrams over the loops) and one TCP listener whose
/// connections are spread over the loops; for every `listen_tls` address a DNS-over-TLS listener
/// and for every `listen_https` address a DNS-over-HTTPS one, in front of the same pipeline.
/// TCP, DoT and DoH connections share `tcp.idle_timeout_ms` and `tcp.max_connections`.
final class DNSServer: Sendable {
    let udpChannels: [Channel]
    let tcpChannels: [Channel]
    let upstreamPools: [UpstreamSocketPool]

    /// Datagrams read per system call (recvmmsg); measured 100k → 165k q/s with 32 (docs/ARCHITECTURE.md, "Hot path").
    static let vectorReadCount = 32
    /// Largest query read over UDP; queries are small, and EDNS clients stay well below this.
    static let maxDatagram = 4096
    /// SO_RCVBUF of each listening UDP socket.
    static let udpReceiveBuffer: SocketOptionValue = 4 << 20

    struct StartError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    private init(udp: [Channel], tcp: [Channel], pools: [UpstreamSocketPool]) {
        udpChannels = udp
        tcpChannels = tcp
        upstreamPools = pools
    }

    /// The per-loop state of every event loop of the group: the pipeline's `LoopContext` and the
    /// registry of the loop's TCP connections. Filled before any channel exists, read only after.
    private struct Loops: Sendable {
        let contexts: [ObjectIdentifier: LoopContext]
        let registries: [ObjectIdentifier: TCPConnectionRegistry]

        // Both dictionaries have an entry for every loop of the group (filled in `start`).
        func context(_ loop: EventLoop) -> LoopContext { contexts[ObjectIdentifier(loop)]! }
        func registry(_ loop: EventLoop) -> TCPConnectionRegistry { registries[ObjectIdentifier(loop)]! }
    }

    /// Binds every listener. `pipeline` answers the queries; `cache` and `upstreams` are shared
    /// by the event loops, each of which gets a `LoopContext` of its own.
    static func start(settings: ResolverSettings, pipeline: QueryPipeline, cache: AnswerCache, upstreams: UpstreamSet,
                      group: MultiThreadedEventLoopGroup, metrics: ResolverMetrics, queryLog: QueryLog?,
                      tls: TLSCredentials?, logger: Logger) async throws -> DNSServer {
        var contexts: [ObjectIdentifier: LoopContext] = [:]
        var registries: [ObjectIdentifier: TCPConnectionRegistry] = [:]
        for (index, loop) in group.makeIterator().enumerated() {
            let context = LoopContext(eventLoop: loop, index: index, cache: cache, metrics: metrics, queryLog: queryLog)
            contexts[ObjectIdentifier(loop)] = context
            registries[ObjectIdentifier(loop)] = TCPConnectionRegistry()
            pipeline.store.subscribe { context.adopt($0) }
            upstreams.subscribe { context.adopt($0) }
        }
        let loops = Loops(contexts: contexts, registries: registries)
        var udp: [Channel] = []
        var tcp: [Channel] = []
        do {
            for address in settings.listen {
                let socketAddress: SocketAddress
                do {
                    socketAddress = try SocketAddress(ipAddress: address.host, port: address.port)
                } catch {
                    throw StartError(message: "listen \(address): \(error)")
                }
                // TCP first: its bind fails when the port is taken, where SO_REUSEPORT on UDP might not.
                tcp.append(try await bind(what: "TCP", address: address, logger: logger) {
                    try await tcpListener(socketAddress, settings: settings, pipeline: pipeline, loops: loops, group: group)
                })
                for _ in 0..<settings.threads {
                    let loop = group.next()
                    udp.append(try await bind(what: "UDP", address: address, logger: logger) {
                        try await udpSocket(socketAddress, pipeline: pipeline, loops: loops, loop: loop)
                    })
                }
                logger.info("listening", metadata: ["address": "\(address)", "udp_sockets": "\(settings.threads)",
                                                    "tcp": "yes"])
            }
            if let tls {
                for address in settings.listenTLS {
                    let socketAddress = try socketAddress(address)
                    tcp.append(try await bind(what: "DoT", address: address, logger: logger) {
                        try await dotListener(socketAddress, settings: settings, pipeline: pipeline, loops: loops,
                                              tls: tls, group: group)
                    })
                    logger.info("listening", metadata: ["address": "\(address)", "protocol": "dot"])
                }
                for address in settings.listenHTTPS {
                    let socketAddress = try socketAddress(address)
                    tcp.append(try await bind(what: "DoH", address: address, logger: logger) {
                        try await dohListener(socketAddress, settings: settings, pipeline: pipeline, loops: loops,
                                              tls: tls, group: group)
                    })
                    logger.info("listening", metadata: ["address": "https://\(address)\(DoHQueryHandler.path)",
                                                        "protocol": "doh"])
                }
            }
        } catch {
            for channel in udp + tcp { try? await channel.close() }
            throw error
        }
        // After the listeners: the pool's sockets take random ports, never one meant for listening.
        for context in contexts.values { try? await context.upstreamSockets.open().get() }
        return DNSServer(udp: udp, tcp: tcp, pools: contexts.values.map(\.upstreamSockets))
    }

    private static func socketAddress(_ address: HostPort) throws -> SocketAddress {
        do {
            return try SocketAddress(ipAddress: address.host, port: address.port)
        } catch {
            throw StartError(message: "listen \(address): \(error)")
        }
    }

    /// A listening TCP socket whose connections are spread over the loops, set up by `initialize`.
    private static func streamListener(_ address: SocketAddress, group: MultiThreadedEventLoopGroup,
                                       halfClosure: Bool,
                                       _ initialize: @escaping @Sendable (Channel) throws -> Void) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: halfClosure)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try initialize(channel) }
            }
            .bind(to: address).get()
    }

    /// The DNS-over-TLS listener of one address (RFC 7858): TLS, then exactly TCP's framing and
    /// handler. The idle timer sits in front of TLS, so a client stalled in its handshake is
    /// closed like an idle TCP one; until then it holds only its own place in the registry.
    private static func dotListener(_ address: SocketAddress, settings: ResolverSettings, pipeline: QueryPipeline,
                                    loops: Loops, tls: TLSCredentials,
                                    group: MultiThreadedEventLoopGroup) async throws -> Channel {
        let idle = TimeAmount.milliseconds(Int64(settings.tcpIdleTimeoutMilliseconds))
        let perLoopConnections = max(1, settings.tcpMaxConnections / max(1, loops.contexts.count))
        // TLS has its own close (close_notify); a TCP half-close is not how a DoT client ends.
        return try await streamListener(address, group: group, halfClosure: false) { channel in
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(IdleStateHandler(readTimeout: idle))
            try sync.addHandler(NIOSSLServerHandler(context: tls.dot))
            try sync.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
            try sync.addHandler(TCPQueryHandler(pipeline: pipeline, loop: loops.context(channel.eventLoop),
                                                connections: loops.registry(channel.eventLoop),
                                                maxConnections: perLoopConnections, transport: .dot))
        }
    }

    /// The DNS-over-HTTPS listener of one address (RFC 8484): TLS with ALPN h2 or http/1.1, then
    /// NIOHTTP2's server pipeline (or NIOHTTP1's), each request or stream to a `DoHQueryHandler`.
    private static func dohListener(_ address: SocketAddress, settings: ResolverSettings, pipeline: QueryPipeline,
                                    loops: Loops, tls: TLSCredentials,
                                    group: MultiThreadedEventLoopGroup) async throws -> Channel {
        let idle = TimeAmount.milliseconds(Int64(settings.tcpIdleTimeoutMilliseconds))
        let perLoopConnections = max(1, settings.tcpMaxConnections / max(1, loops.contexts.count))
        return try await streamListener(address, group: group, halfClosure: false) { channel in
            let sync = channel.pipeline.syncOperations
            let connection = DoHConnectionHandler(connections: loops.registry(channel.eventLoop),
                                                  maxConnections: perLoopConnections)
            try sync.addHandler(IdleStateHandler(readTimeout: idle))
            try sync.addHandler(connection)
            try sync.addHandler(NIOSSLServerHandler(context: tls.doh))
            let bound = NIOLoopBound(connection, eventLoop: channel.eventLoop)
            let loop = loops.context(channel.eventLoop)
            // Not waited for: it only adds the ALPN handler now; the rest follows the handshake.
            _ = channel.configureCommonHTTPServerPipeline { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(
                        DoHQueryHandler(pipeline: pipeline, loop: loop, connection: bound.value))
                }
            }
        }
    }

    /// The TCP listener of one address; its connections are spread over the loops.
    private static func tcpListener(_ address: SocketAddress, settings: ResolverSettings, pipeline: QueryPipeline,
                                    loops: Loops, group: MultiThreadedEventLoopGroup) async throws -> Channel {
        let idle = TimeAmount.milliseconds(Int64(settings.tcpIdleTimeoutMilliseconds))
        let perLoopConnections = max(1, settings.tcpMaxConnections / max(1, loops.contexts.count))
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // A client may half-close after its last query and still read the answers.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: idle))
                    try sync.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
                    try sync.addHandler(TCPQueryHandler(pipeline: pipeline, loop: loops.context(channel.eventLoop),
                                                        connections: loops.registry(channel.eventLoop),
                                                        maxConnections: perLoopConnections))
                }
            }
            .bind(to: address).get()
    }

    /// One loop's UDP socket on one address (SO_REUSEPORT: the kernel spreads datagrams).
    private static func udpSocket(_ address: SocketAddress, pipeline: QueryPipeline, loops: Loops,
                                  loop: EventLoop) async throws -> Channel {
        try await DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socket(SocketOptionLevel(SOL_SOCKET), SocketOptionName(SO_REUSEPORT)), value: 1)
            // Room for a burst (4 MiB; the kernel caps it at net.core.rmem_max):
            // queries that arrive while the loop is busy wait instead of being dropped.
            .channelOption(.socketOption(.so_rcvbuf), value: udpReceiveBuffer)
            .channelOption(.datagramVectorReadMessageCount, value: vectorReadCount)
            // One recvmmsg per wake-up: a read that came back short has emptied the
            // socket, and NIO's default of 4 would then pay for a second, empty call
            // (and its 32 message headers) on every lightly loaded wake-up. epoll is
            // level-triggered, so datagrams left over wake the loop again at once.
            .channelOption(.maxMessagesPerRead, value: 1)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: vectorReadCount * maxDatagram))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        UDPQueryHandler(pipeline: pipeline, loop: loops.context(channel.eventLoop)))
                }
            }
            .bind(to: address).get()
    }

    private static func bind(what: String, address: HostPort, logger: Logger,
                             _ body: () async throws -> Channel) async throws -> Channel {
        do {
            return try await body()
        } catch let error as IOError {
            var hint = ""
            if error.errnoCode == EADDRINUSE { hint = " (another program is using this port)" }
            if error.errnoCode == EACCES { hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" }
            if error.errnoCode == EADDRNOTAVAIL { hint = " (no interface on this machine has this address)" }
            throw StartError(message: "cannot listen on \(address) \(what): \(error.description)\(hint)")
        } catch {
            throw StartError(message: "cannot listen on \(address) \(what): \(error)")
        }
    }

    /// Stops taking new queries: UDP sockets stop reading, TCP listeners close, open TCP
    /// connections stop reading. Answers still pending can still be written.
    func stopAccepting() async {
        for channel in udpChannels {
            try? await channel.setOption(ChannelOptions.autoRead, value: false).get()
        }
        for channel in tcpChannels { try? await channel.close() }
    }

    func close() async {
        for channel in udpChannels { try? await channel.close() }
        for pool in upstreamPools { pool.close() }
    }
}

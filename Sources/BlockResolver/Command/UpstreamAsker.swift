import NIOCore
import NIOPosix
import ResolverConfig
#if canImport(Glibc)
import Glibc
#endif

/// One question asked of one upstream with blocking sockets, for `explain --resolve`: over UDP,
/// and again over TCP when the answer is truncated; a TLS upstream over one `TLSUpstreamConnection`
/// on an event loop of its own (its certificate checked as the server checks it). Not the server's path (that is
/// `UpstreamPool`, on the event loops); a command that asks once and prints.
struct UpstreamAsker {
    let upstream: ResolverSettings.Upstream
    let timeoutMilliseconds: Int
    /// The `outgoing` address to send from (one of the upstream's family), as the server would;
    /// nil for the kernel's choice.
    var source: String? = nil

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The upstream's checked reply to `question` (ID, question and QR as the server checks them).
    func ask(_ question: Question) throws -> ReplyParser.Reply {
        let builder = try UpstreamQueryBuilder(udpSize: 1232)
        var query = builder.query(question, dnssecOK: false, checkingDisabled: false)
        let id = UInt16.random(in: 0...UInt16.max)
        query[0] = UInt8(id >> 8)
        query[1] = UInt8(id & 0xFF)
        let address = try SocketAddress(ipAddress: upstream.address.host, port: upstream.address.port)
        if let tls = upstream.tls { return try askOverTLS(query, question: question, address: address, tls: tls) }
        var bytes = try exchange(query, address: address, tcp: upstream.tcp)
        var reply = bytes.withUnsafeBytes { ReplyParser.check($0, id: id, question: question) }
        if reply?.truncated == true && !upstream.tcp {
            bytes = try exchange(query, address: address, tcp: true)
            reply = bytes.withUnsafeBytes { ReplyParser.check($0, id: id, question: question) }
        }
        guard let reply else { throw Failure(description: "\(upstream) sent no valid answer") }
        return reply
    }

    private func askOverTLS(_ query: [UInt8], question: Question, address: SocketAddress,
                            tls: ResolverSettings.UpstreamTLS) throws -> ReplyParser.Reply {
        let client = try UpstreamTLSClient(tls, upstream: upstream.address.description)
        let from = try source.map { try SocketAddress(ipAddress: $0, port: 0) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let promise = loop.makePromise(of: ReplyParser.Reply.self)
        let budget = TimeAmount.milliseconds(Int64(timeoutMilliseconds))
        loop.execute {
            let connection = TLSUpstreamConnection(eventLoop: loop, address: address, tls: client, source: from)
            connection.send(query, question: question, budget: budget) { result in
                connection.close()
                promise.completeWith(result)
            }
        }
        do {
            return try promise.futureResult.wait()
        } catch {
            throw Failure(description: "\(upstream): \(error)")
        }
    }

    private func exchange(_ query: [UInt8], address: SocketAddress, tcp: Bool) throws -> [UInt8] {
        let family = address.protocol.rawValue
        let fd = socket(family, Int32(tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot open a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let source {
            let bound = try SocketAddress(ipAddress: source, port: 0).withSockAddr { pointer, length in
                bind(fd, pointer, socklen_t(length)) == 0
            }
            guard bound else { throw Failure(description: "cannot bind to \(source): \(String(cString: strerror(errno)))") }
        }
        let connected = address.withSockAddr { pointer, length in connect(fd, pointer, socklen_t(length)) == 0 }
        guard connected else { throw Failure(description: "cannot reach \(upstream): \(String(cString: strerror(errno)))") }
        let message = tcp ? [UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query : query
        guard send(fd, message, message.count, 0) == message.count else {
            throw Failure(description: "cannot send to \(upstream): \(String(cString: strerror(errno)))")
        }
        var buffer = [UInt8](repeating: 0, count: 65_537)
        var received = 0
        repeat {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, $0.count - received, 0) }
            guard count > 0 else {
                throw Failure(description: "no answer from \(upstream) within \(timeoutMilliseconds) ms")
            }
            received += count
        } while tcp && (received < 2 || received < 2 + (Int(buffer[0]) << 8 | Int(buffer[1])))
        return tcp ? Array(buffer[2..<(2 + (Int(buffer[0]) << 8 | Int(buffer[1])))]) : Array(buffer[..<received])
    }
}

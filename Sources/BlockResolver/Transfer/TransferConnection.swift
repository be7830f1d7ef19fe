#if canImport(Glibc)
import Glibc
#endif
import ResolverConfig

/// One TCP connection to a primary, with blocking reads and writes bounded by a timeout: it runs
/// on the transfer thread only (`ZoneTransferService`), never on an event loop, so blocking here
/// holds up no query. Messages are framed with their two-byte length (RFC 1035 4.2.2).
final class TransferConnection {
    private let fd: Int32
    let address: HostPort

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Connects to `address` within `timeoutSeconds`; every later read and write has the same bound.
    init(to address: HostPort, timeoutSeconds: Int) throws(Failure) {
        self.address = address
        var storage = sockaddr_storage()
        var length: socklen_t
        let family: Int32
        switch address.family {
        case .ipv4:
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = in_port_t(UInt16(address.port).bigEndian)
            _ = inet_pton(AF_INET, address.host, &sin.sin_addr)
            withUnsafeBytes(of: sin) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        case .ipv6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = in_port_t(UInt16(address.port).bigEndian)
            _ = inet_pton(AF_INET6, address.host, &sin6.sin6_addr)
            withUnsafeBytes(of: sin6) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        }
        fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // On Linux SO_SNDTIMEO also bounds a blocking connect (socket(7)).
        let connected = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        if connected != 0 {
            let reason = errno == EINPROGRESS || errno == EAGAIN ? "timed out" : String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot connect to \(address): \(reason)")
        }
    }

    deinit { close(fd) }

    /// Sends one message with its length prefix.
    func send(_ message: [UInt8]) throws(Failure) {
        var framed = [UInt8(message.count >> 8), UInt8(message.count & 0xFF)]
        framed.append(contentsOf: message)
        var sent = 0
        while sent < framed.count {
            let result = framed.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if result < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot send to \(address): \(String(cString: strerror(errno)))")
            }
            sent += result
        }
    }

    /// Reads one message; a connection closed or timed out before a whole message is an error
    /// (a transfer cut in the middle).
    func receive() throws(Failure) -> [UInt8] {
        let header = try read(2)
        let size = Int(header[0]) << 8 | Int(header[1])
        if size < 12 { throw Failure(description: "\(address) sent a message of \(size) bytes") }
        return try read(size)
    }

    private func read(_ count: Int) throws(Failure) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let result = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if result < 0 {
                if errno == EINTR { continue }
                let reason = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : String(cString: strerror(errno))
                throw Failure(description: "reading from \(address): \(reason)")
            }
            if result == 0 { throw Failure(description: "\(address) closed the connection in the middle of a message") }
            got += result
        }
        return bytes
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Plain sockets for what dig will not send: malformed packets, half TCP frames, pipelining.
enum RawDNS {
    /// A minimal query message: header with `id` and `flags`, `qdcount` copies of the question.
    static func query(id: UInt16, name: String, type: UInt16 = 1, flags: UInt16 = 0x0100, qdcount: UInt16 = 1) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), UInt8(flags >> 8), UInt8(flags & 0xFF),
                              0, UInt8(qdcount), 0, 0, 0, 0, 0, 0]
        for _ in 0..<qdcount {
            for label in name.split(separator: ".") {
                bytes.append(UInt8(label.utf8.count))
                bytes += Array(label.utf8)
            }
            bytes += [0, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
        }
        return bytes
    }

    /// An OPT record: `owner` in wire form (the root, as RFC 6891 requires, unless a test wants
    /// otherwise), UDP size, EDNS version and DO, no options.
    static func opt(owner: [UInt8] = [0], udpSize: UInt16 = 4096, version: UInt8 = 0,
                    dnssecOK: Bool = false) -> [UInt8] {
        owner + [0, 41, UInt8(udpSize >> 8), UInt8(udpSize & 0xFF), 0, version, dnssecOK ? 0x80 : 0, 0, 0, 0]
    }

    /// `message` with `records` appended to its additional section (ARCOUNT raised to match).
    static func appendingAdditionals(_ records: [[UInt8]], to message: [UInt8]) -> [UInt8] {
        var bytes = message
        let count = (Int(bytes[10]) << 8 | Int(bytes[11])) + records.count
        bytes[10] = UInt8(count >> 8)
        bytes[11] = UInt8(count & 0xFF)
        return bytes + records.joined()
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    /// Calls `body` with 127.0.0.1:`port` as a `sockaddr` and its length, for bind, connect, sendto.
    static func withLoopback<R>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    static func setTimeout(_ fd: Int32, milliseconds: Int) {
        var timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: Int((milliseconds % 1000) * 1000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends one datagram and returns the reply, or nil when none came within `milliseconds`.
    static func udpExchange(_ message: [UInt8], port: Int, milliseconds: Int = 1500) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        setTimeout(fd, milliseconds: milliseconds)
        let sent = withLoopback(port: port) { sendto(fd, message, message.count, 0, $0, $1) }
        guard sent == message.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_535)
        let got = recv(fd, &buffer, buffer.count, 0)
        return got > 0 ? Array(buffer[0..<got]) : nil
    }

    /// A connected TCP socket to the test server.
    final class TCPConnection {
        let fd: Int32

        init(port: Int, timeoutMilliseconds: Int = 3000) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            RawDNS.setTimeout(fd, milliseconds: timeoutMilliseconds)
            let connected = RawDNS.withLoopback(port: port) { connect(fd, $0, $1) == 0 }
            if !connected { throw TestTools.Missing(description: "cannot connect to 127.0.0.1:\(port)") }
        }

        deinit { close(fd) }

        func sendRaw(_ bytes: [UInt8]) {
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        /// Sends `message` with its 2-byte length.
        func sendFramed(_ message: [UInt8]) {
            sendRaw([UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message)
        }

        /// Reads exactly `count` bytes, or nil on timeout or close.
        func read(_ count: Int) -> [UInt8]? {
            var result: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: count)
            while result.count < count {
                let got = recv(fd, &buffer, count - result.count, 0)
                if got <= 0 { return nil }
                result += buffer[0..<got]
            }
            return result
        }

        /// Reads one framed message, or nil on timeout or close.
        func readFramed() -> [UInt8]? {
            guard let length = read(2) else { return nil }
            return read(Int(length[0]) << 8 | Int(length[1]))
        }

        /// True when the server closed the connection (read returns 0) within the socket timeout.
        func isClosedByPeer() -> Bool {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0) == 0
        }
    }

    static func id(_ message: [UInt8]) -> UInt16 { UInt16(message[0]) << 8 | UInt16(message[1]) }
    static func rcode(_ message: [UInt8]) -> UInt8 { message[3] & 0x0F }
    static func flags(_ message: [UInt8]) -> UInt16 { UInt16(message[2]) << 8 | UInt16(message[3]) }
}

/// How a message reached the resolver. It decides the size limit of the answer (UDP only) and
/// labels metrics (`protocol`) and query-log lines.
enum Transport: String, Sendable, CaseIterable {
    case udp, tcp
    /// DNS over TLS (RFC 7858): TCP's framing inside TLS.
    case dot
    /// DNS over HTTPS (RFC 8484).
    case doh

    /// Position in `allCases`, for per-transport tables.
    var index: Int {
        switch self {
        case .udp: 0
        case .tcp: 1
        case .dot: 2
        case .doh: 3
        }
    }

    /// Whether the client sent a datagram: the only transport with a size limit below 64 KiB, a
    /// rate limit answered with TC, and a TC answer that makes it come back over a connection.
    var isDatagram: Bool { self == .udp }

    /// Whether the messages are encrypted (EDNS padding applies, RFC 7830).
    var isEncrypted: Bool { self == .dot || self == .doh }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An IP literal and a port, as written in `listen` and `upstreams`: `127.0.0.1:5353`,
/// `[::1]:5353`, or a bare address meaning port 53. Host names are not accepted: a resolver must
/// not need DNS to find its own sockets or upstreams.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public enum Family: Sendable { case ipv4, ipv6 }

    public let host: String
    public let port: Int
    public let family: Family

    public init(host: String, port: Int, family: Family) {
        self.host = host
        self.port = port
        self.family = family
    }

    /// Why a text is not an address; `message` quotes the text.
    public struct ParseError: Error, Sendable {
        public let message: String
    }

    public var description: String { family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `text`; the error says what is wrong with it.
    public static func parse(_ text: String, defaultPort: Int = 53) -> Result<HostPort, ParseError> {
        var host = text
        var portText: Substring? = nil
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(ParseError(message: "missing ']' in \"\(text)\"")) }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return .failure(ParseError(message: "expected ':port' after ']' in \"\(text)\"")) }
                portText = rest.dropFirst()
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
        }
        var port = defaultPort
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                return .failure(ParseError(message: "port \"\(portText)\" is not a number from 1 to 65535 in \"\(text)\""))
            }
            port = value
        }
        guard let family = ipFamily(host) else {
            return .failure(ParseError(message: "\"\(host)\" is not an IPv4 or IPv6 address (host names are not accepted)"))
        }
        return .success(HostPort(host: host, port: port, family: family))
    }

    /// The family of an IP literal, or nil when `text` is not one.
    public static func ipFamily(_ text: String) -> Family? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return .ipv4 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return .ipv6 }
        return nil
    }
}

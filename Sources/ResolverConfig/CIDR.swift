#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`, for `access.allow`.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// Network address bytes: 4 for IPv4, 16 for IPv6.
    public let network: [UInt8]
    public let prefix: Int

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = network.withUnsafeBytes { inet_ntop(network.count == 4 ? AF_INET : AF_INET6, $0.baseAddress, &text, socklen_t(text.count)) }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/\(prefix)"
    }

    public init(network: [UInt8], prefix: Int) {
        self.prefix = prefix
        // Keep only the prefix bits, so that 10.1.2.3/8 means 10.0.0.0/8.
        self.network = network.enumerated().map { index, byte in
            let bits = max(0, min(8, prefix - index * 8))
            return bits == 8 ? byte : byte & ~(0xFF >> bits)
        }
    }

    /// An address (4 or 16 bytes) as text, without a prefix length: `192.0.2.1`, `2001:db8::1`.
    public static func addressText(_ bytes: [UInt8]) -> String {
        String(CIDR(network: bytes, prefix: bytes.count * 8).description.prefix { $0 != "/" })
    }

    /// Parses `address/prefix` (or a bare address, meaning just that host).
    public static func parse(_ text: String) -> CIDR? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = String(parts[0])
        var bytes: [UInt8]
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
        var prefix = bytes.count * 8
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...bytes.count * 8).contains(value) else { return nil }
            prefix = value
        }
        return CIDR(network: bytes, prefix: prefix)
    }

    /// Whether the address with these bytes (4 or 16) is inside the block. An IPv4-mapped IPv6
    /// address (`::ffff:a.b.c.d`) is matched as the IPv4 address it carries.
    @inline(__always)
    public func contains(_ address: UnsafeRawBufferPointer) -> Bool {
        var bytes = address
        if bytes.count == 16 && network.count == 4 && Self.isIPv4Mapped(bytes) {
            bytes = UnsafeRawBufferPointer(rebasing: bytes[12...])
        }
        guard bytes.count == network.count else { return false }
        var remaining = prefix
        var index = 0
        while remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> bits)
            if bytes[bytes.startIndex + index] & mask != network[index] { return false }
            remaining -= bits
            index += 1
        }
        return true
    }

    static func isIPv4Mapped(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for index in 0..<10 where bytes[bytes.startIndex + index] != 0 { return false }
        return bytes[bytes.startIndex + 10] == 0xFF && bytes[bytes.startIndex + 11] == 0xFF
    }

    /// Loopback and private ranges: a fresh install answers these and nobody else, so it is never
    /// an open resolver. 100.64.0.0/10 is carrier-grade NAT, where ISPs' own customers sit.
    public static let defaultAllowed: [CIDR] = [
        "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
        "::1/128", "fc00::/7", "fe80::/10",
    ].compactMap(CIDR.parse)
}

extension Optional where Wrapped == [UInt8] {
    /// `body` with the bytes, or with nil: an address that may be unknown, handed to the policy's
    /// decisions (which take raw bytes so that a query never allocates for its client address).
    public func withUnsafeBytesOrNil<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R {
        switch self {
        case .some(let bytes): return bytes.withUnsafeBytes { body($0) }
        case .none: return body(nil)
        }
    }
}

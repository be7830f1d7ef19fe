/// Reads a `hosts` list, `/etc/hosts` style: `0.0.0.0 name [name…]` and `#` comments. The
/// address is only checked for its shape, since the sinkhole is configured per resolver.
public struct HostsReader: LineListReader {
    public init() {}

    public init(_ list: ListSettings) {}

    /// Host names that every hosts file maps to itself; blocking them would break the machine.
    static let boilerplate: Set<[UInt8]> = Set(
        ["localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
         "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters",
         "ip6-allhosts", "0.0.0.0"].map { Array($0.utf8) }
    )

    public func readLine(_ fields: [ArraySlice<UInt8>], line: Int, into builder: inout ListBuilder) {
        if fields.count == 1 {
            builder.report(line: line, "no address before the name (a domains file? use format: domains)")
            return
        }
        if !Self.looksLikeAddress(fields[0]) {
            builder.report(line: line, "first field \(ListBuilder.quoted(fields[0])) is not an IP address")
            return
        }
        for field in fields.dropFirst() {
            var bare = field
            if bare.count > 1 && bare.last == UInt8(ascii: ".") { bare = bare.dropLast() }
            if Self.boilerplate.contains(Array(bare).map(DomainName.lowercase)) {
                builder.countIgnored()
            } else {
                builder.addName(field, line: line)
            }
        }
    }

    /// An IPv4 or IPv6 address as hosts files write them; only the shape is checked.
    static func looksLikeAddress(_ token: ArraySlice<UInt8>) -> Bool {
        if token.contains(UInt8(ascii: ":")) {
            return token.allSatisfy { byte in
                byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
                    || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66)
            }
        }
        return DomainName.looksLikeIPv4(token)
    }
}

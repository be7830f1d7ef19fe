/// Reads an `ips` list: one IPv4 or IPv6 address or prefix per line (`192.0.2.1`,
/// `198.51.100.0/24`, `2001:db8::/32`), `#` comments and blank lines. An entry matches the
/// A and AAAA records of an answer that fall inside it, with the list's action: the way to block
/// every name that points at a hosting address, whatever the name.
///
/// Host bits beyond the prefix length (`10.1.2.3/8`) are dropped, as `CIDR` does everywhere. A
/// `/0` is refused like the RPZ wildcard of a whole zone: it would block every answer.
public struct IPsReader: LineListReader {
    public init() {}

    public init(_ list: ListSettings) {}

    /// No names: nothing of the arena is reserved (the capacity would stay with the parsed list).
    public static func arenaCapacity(size: Int, newlines: Int) -> Int { 0 }

    public func readLine(_ fields: [ArraySlice<UInt8>], line: Int, into builder: inout ListBuilder) {
        if fields.count > 1 {
            builder.report(line: line, "more than one field on the line (one address or prefix a line)")
            return
        }
        switch Self.prefix(fields[0]) {
        case .success(let cidr): builder.addAddress(cidr, trigger: .answer, rule: .wholeSubtree, line: line)
        case .failure(let problem): builder.report(line: line, problem.reason)
        }
    }

    /// Why a field is not an entry, for the problem report.
    struct Problem: Error {
        let reason: String
    }

    /// The prefix `field` writes: an address, or `address/length`.
    static func prefix(_ field: ArraySlice<UInt8>) -> Result<CIDR, Problem> {
        let slash = field.firstIndex(of: UInt8(ascii: "/"))
        let host = field[..<(slash ?? field.endIndex)]
        // Checked before inet_pton, which would stop at a zero byte and read "1.2.3.4\0x" as valid.
        guard !host.isEmpty, host.allSatisfy(Self.isAddressByte),
              let address = CIDR.parse(String(decoding: host, as: UTF8.self))
        else { return .failure(Problem(reason: "\(ListBuilder.quoted(field)) is not an IP address or prefix")) }
        guard let slash else { return .success(address) }
        let bits = address.network.count * 8
        let digits = field[(slash + 1)...]
        guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let length = Int(String(decoding: digits, as: UTF8.self))
        else { return .failure(Problem(reason: "prefix length \(ListBuilder.quoted(digits)) is not a number")) }
        if length == 0 { return .failure(Problem(reason: "a /0 prefix would match every address; skipped")) }
        guard length <= bits else {
            let family = bits == 32 ? "IPv4" : "IPv6"
            return .failure(Problem(reason: "prefix length \(length) is out of range 1...\(bits) for an \(family) address"))
        }
        return .success(CIDR(network: address.network, prefix: length))
    }

    /// Hex digits, `.` and `:`: every byte an IPv4 or IPv6 address can hold.
    @inline(__always)
    static func isAddressByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
            || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66)
    }
}

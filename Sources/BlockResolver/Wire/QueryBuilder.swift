import CLdns

/// Makes query messages with ldns, for `explain` (what would this query get?) and nothing on the
/// serving path.
enum QueryBuilder {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The numeric type for a name such as `A`, `mx` or `TYPE65`.
    static func type(named name: String) -> UInt16? {
        let type = ldns_get_rr_type_by_name(name.uppercased())
        return type.rawValue == 0 ? nil : UInt16(type.rawValue)
    }

    /// The usual name of a numeric type (`A`, `MX`, `TYPE65534`).
    static func typeName(_ type: UInt16) -> String {
        // ldns_rr_type2str allocates with malloc.
        guard let text = ldns_rr_type2str(ldns_rr_type(rawValue: UInt32(type))) else { return "TYPE\(type)" }
        defer { free(text) }
        return String(cString: text)
    }

    /// A recursive query for `name`/`type` in class IN, with EDNS (1232 bytes) when `edns`.
    static func query(name: String, type: UInt16, edns: Bool) throws -> [UInt8] {
        guard let owner = ldns_dname_new_frm_str(name) else { throw Failure(description: "\"\(name)\" is not a domain name") }
        // ldns_pkt_query_new takes ownership of `owner`.
        guard let packet = ldns_pkt_query_new(owner, ldns_rr_type(rawValue: UInt32(type)), LDNS_RR_CLASS_IN,
                                              UInt16(LDNS_RD))
        else { throw Failure(description: "cannot build a query for \"\(name)\"") }
        let owned = LdnsPacket(adopting: packet)
        ldns_pkt_set_id(packet, 0x4242)
        if edns { ldns_pkt_set_edns_udp_size(packet, 1232) }
        return try owned.wire()
    }

    /// A reply as dig-like text (header, sections, EDNS), written by ldns.
    static func describe(_ message: [UInt8]) -> String {
        guard let packet = message.withUnsafeBytes({ try? LdnsPacket(wire: $0) }),
              let text = ldns_pkt2str(packet.pointer)
        else { return "(a message ldns cannot read)" }
        defer { free(text) }  // ldns_pkt2str allocates with malloc
        return String(cString: text)
    }
}

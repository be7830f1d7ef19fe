import CLdns

/// Checks an upstream's reply with ldns before it is relayed (RFC 5452): it must parse, be a
/// response, carry the ID we sent and the question we asked.
enum ReplyParser {
    struct Reply {
        let truncated: Bool
        let rcode: UInt8
    }

    /// The reply's flags when `bytes` answers `question` sent with `id`; nil when it does not.
    static func check(_ bytes: UnsafeRawBufferPointer, id: UInt16, question: Question) -> Reply? {
        guard bytes.count >= QueryParser.headerSize, let packet = try? LdnsPacket(wire: bytes) else { return nil }
        // Everything read below points into the packet: keep it alive to the end.
        return withExtendedLifetime(packet) { check(packet, id: id, question: question) }
    }

    private static func check(_ packet: LdnsPacket, id: UInt16, question: Question) -> Reply? {
        let pointer = packet.pointer
        guard ldns_pkt_id(pointer) == id, ldns_pkt_qr(pointer) != 0, let asked = packet.question,
              let owner = ldns_rr_owner(asked), let data = ldns_rdf_data(owner)
        else { return nil }
        let name = UnsafeBufferPointer(start: data, count: ldns_rdf_size(owner))
        guard question.matches(name: name, type: UInt16(ldns_rr_get_type(asked).rawValue),
                               class: UInt16(ldns_rr_get_class(asked).rawValue))
        else { return nil }
        return Reply(truncated: ldns_pkt_tc(pointer) != 0, rcode: UInt8(ldns_pkt_get_rcode(pointer).rawValue))
    }
}

import CLdns

/// Builds a reply that is only a header (FORMERR, NOTIMP) with ldns. Rare, so not templated.
enum HeaderOnlyMessage {
    static func wire(id: UInt16, echoedFlags: UInt16, rcode: UInt8) -> [UInt8]? {
        guard let packet = try? LdnsPacket() else { return nil }
        ldns_pkt_set_id(packet.pointer, id)
        ldns_pkt_set_qr(packet.pointer, 1)
        ldns_pkt_set_opcode(packet.pointer, ldns_pkt_opcode(rawValue: UInt32((echoedFlags >> 11) & 0xF)))
        ldns_pkt_set_rd(packet.pointer, echoedFlags & 0x0100 != 0 ? 1 : 0)
        ldns_pkt_set_ra(packet.pointer, 1)
        ldns_pkt_set_rcode(packet.pointer, rcode)
        return try? packet.wire()
    }
}

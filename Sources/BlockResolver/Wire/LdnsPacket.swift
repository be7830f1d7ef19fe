import CLdns

/// Owns one `ldns_pkt` and frees it when the owner goes away. Never escapes `Wire/`.
final class LdnsPacket {
    let pointer: UnsafeMutablePointer<ldns_pkt>

    /// Parses wire bytes; the status of a packet ldns cannot read becomes the thrown error. A
    /// message ldns would leak memory on (`MessageLayout.ldnsMayParse`) is refused before ldns.
    init(wire: UnsafeRawBufferPointer) throws(LdnsError) {
        guard MessageLayout.ldnsMayParse(wire) else {
            throw LdnsError(status: LDNS_STATUS_WIRE_RDATA_ERR, context: "more than one TSIG record")
        }
        var packet: UnsafeMutablePointer<ldns_pkt>? = nil
        let base = wire.baseAddress?.assumingMemoryBound(to: UInt8.self)
        try LdnsError.check(ldns_wire2pkt(&packet, base, wire.count), "cannot parse DNS message")
        guard let packet else { throw LdnsError(status: LDNS_STATUS_MEM_ERR, context: "ldns returned no packet") }
        pointer = packet
    }

    /// Takes ownership of a packet ldns made.
    init(adopting packet: UnsafeMutablePointer<ldns_pkt>) {
        pointer = packet
    }

    /// An empty packet, for building messages.
    init() throws(LdnsError) {
        guard let packet = ldns_pkt_new() else { throw LdnsError(status: LDNS_STATUS_MEM_ERR, context: "ldns_pkt_new") }
        pointer = packet
    }

    deinit { ldns_pkt_free(pointer) }

    /// Serialises the packet with ldns.
    func wire() throws(LdnsError) -> [UInt8] {
        var data: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        try LdnsError.check(ldns_pkt2wire(&data, pointer, &size), "cannot serialise DNS message")
        guard let data else { return [] }
        defer { free(data) }  // ldns_pkt2wire allocates with malloc
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// The question record, when there is exactly one.
    var question: UnsafeMutablePointer<ldns_rr>? {
        guard ldns_pkt_qdcount(pointer) == 1, let list = ldns_pkt_question(pointer) else { return nil }
        return ldns_rr_list_rr(list, 0)
    }
}

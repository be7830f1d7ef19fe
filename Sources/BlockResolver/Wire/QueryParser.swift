import CLdns

/// Reads a client's datagram or TCP frame with ldns and says what to do with it.
///
/// The fixed 12-byte header is looked at first, only to decide cheaply what must never reach the
/// parser: too short to have an ID (drop), a response (QR set; answering it invites loops, drop),
/// an opcode other than QUERY or NOTIFY (NOTIMP; a NOTIFY goes to `NotifyStage`). Everything else is parsed by ldns; a query with records
/// besides its question also has its OPT records checked (RFC 6891 6.1.1: at most one, owned by
/// the root, in the additional section), which ldns does not do.
enum QueryParser {
    enum Outcome {
        /// Not answered at all.
        case drop
        /// Answer with only a header carrying this rcode (FORMERR, NOTIMP).
        case headerOnly(id: UInt16, flags: UInt16, rcode: UInt8)
        /// A well-formed query; valid only inside the `parse` call.
        case query(Query)
        /// A NOTIFY (RFC 1996), for `NotifyStage`.
        case notify
    }

    static let opcodeQuery: UInt8 = 0
    static let opcodeNotify: UInt8 = 4

    /// Parses `bytes` and calls `body` with the outcome while the ldns packet is alive.
    static func parse<R>(_ bytes: UnsafeRawBufferPointer, _ body: (Outcome) -> R) -> R {
        guard bytes.count >= DNSHeader.size else { return body(.drop) }
        let id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let flags = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        if flags & DNSHeader.flagQR != 0 { return body(.drop) }
        // A reply echoes the query's opcode and RD bit; everything else in the header is ours.
        let echoed = flags & (DNSHeader.opcodeMask | DNSHeader.flagRD)
        let opcode = UInt8((flags >> 11) & 0xF)
        if opcode == opcodeNotify { return body(.notify) }
        if opcode != opcodeQuery { return body(.headerOnly(id: id, flags: echoed, rcode: DNSHeader.rcodeNOTIMP)) }

        let formerr = Outcome.headerOnly(id: id, flags: echoed, rcode: DNSHeader.rcodeFORMERR)
        guard let packet = try? LdnsPacket(wire: bytes), let question = packet.question,
              let owner = ldns_rr_owner(question), let data = ldns_rdf_data(owner)
        else { return body(formerr) }
        let hasRecords = bytes[6] | bytes[7] | bytes[8] | bytes[9] | bytes[10] | bytes[11] != 0
        if hasRecords && !MessageLayout.queryOPTIsValid(bytes) { return body(formerr) }
        let name = UnsafeBufferPointer(start: data, count: ldns_rdf_size(owner))
        var edns: Query.EDNS? = nil
        if ldns_pkt_edns(packet.pointer) != 0 {
            edns = Query.EDNS(udpSize: ldns_pkt_edns_udp_size(packet.pointer),
                              dnssecOK: ldns_pkt_edns_do(packet.pointer) != 0,
                              version: ldns_pkt_edns_version(packet.pointer))
        }
        let query = Query(
            id: id, recursionDesired: flags & DNSHeader.flagRD != 0,
            checkingDisabled: flags & DNSHeader.flagCD != 0,
            name: name, type: UInt16(ldns_rr_get_type(question).rawValue),
            class: UInt16(ldns_rr_get_class(question).rawValue), edns: edns
        )
        return withExtendedLifetime(packet) { body(.query(query)) }
    }
}

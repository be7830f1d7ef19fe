import CLdns

/// Builds resource records with ldns from zone-file text, for the answer templates.
enum LdnsRecord {
    /// Wire form of the record in `text` (zone-file syntax, owner `.`), with the owner name
    /// replaced by a compression pointer placeholder: the result starts with two bytes `0xC0 0x0C`
    /// (the question name); callers patch the offset when the owner is another name.
    static func template(_ text: String) throws(LdnsError) -> [UInt8] {
        var record: UnsafeMutablePointer<ldns_rr>? = nil
        try LdnsError.check(ldns_rr_new_frm_str(&record, text, 0, nil, nil), "cannot build record \"\(text)\"")
        guard let record else { throw LdnsError(status: LDNS_STATUS_MEM_ERR, context: "ldns_rr_new_frm_str") }
        defer { ldns_rr_free(record) }
        var data: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        try LdnsError.check(ldns_rr2wire(&data, record, Int32(LDNS_SECTION_ANSWER.rawValue), &size),
                            "cannot serialise record \"\(text)\"")
        guard let data, size > 0 else { throw LdnsError(status: LDNS_STATUS_MEM_ERR, context: "ldns_rr2wire") }
        defer { free(data) }  // ldns_rr2wire allocates with malloc
        let bytes = Array(UnsafeBufferPointer(start: data, count: size))
        // The owner `.` is the single zero byte at the start; everything after it is type onwards.
        precondition(bytes[0] == 0, "template records are written with owner '.'")
        return [0xC0, 0x0C] + bytes.dropFirst()
    }

    /// The longest prefix of `text` of at most `limit` UTF-8 bytes that ends on a character boundary
    /// (RFC 8914: the extra text is UTF-8), so a long category cannot bloat every blocked answer.
    static func prefix(_ text: String, utf8Bytes limit: Int) -> String {
        var result = ""
        var bytes = 0
        for character in text {
            bytes += character.utf8.count
            if bytes > limit { break }
            result.append(character)
        }
        return result
    }

    /// Wire form of an OPT record (RFC 6891) advertising `udpSize`, carrying an Extended DNS
    /// Error option (RFC 8914) when `ede` is given, and the upper bits of an extended rcode
    /// (BADVERS) when `extendedRcode` is. Built by serialising an ldns packet with only
    /// EDNS set and taking what follows its 12-byte header.
    static func opt(udpSize: UInt16, ede: (code: UInt16, text: String)?, dnssecOK: Bool = false,
                    extendedRcode: UInt8 = 0) throws(LdnsError) -> [UInt8] {
        let packet = try LdnsPacket()
        ldns_pkt_set_edns_udp_size(packet.pointer, udpSize)
        ldns_pkt_set_edns_extended_rcode(packet.pointer, extendedRcode)
        if dnssecOK { ldns_pkt_set_edns_do(packet.pointer, 1) }
        if let ede {
            var payload: [UInt8] = [UInt8(ede.code >> 8), UInt8(ede.code & 0xFF)]
            payload += Array(Self.prefix(ede.text, utf8Bytes: 300).utf8)
            guard let list = ldns_edns_option_list_new() else {
                throw LdnsError(status: LDNS_STATUS_MEM_ERR, context: "ldns_edns_option_list_new")
            }
            // ldns copies `payload`; the list then belongs to the packet and is freed with it.
            let option = payload.withUnsafeBytes { ldns_edns_new_from_data(LDNS_EDNS_EDE, $0.count, $0.baseAddress) }
            guard let option, ldns_edns_option_list_push(list, option) != 0 else {
                ldns_edns_option_list_deep_free(list)
                throw LdnsError(status: LDNS_STATUS_MEM_ERR, context: "cannot build the EDE option")
            }
            ldns_pkt_set_edns_option_list(packet.pointer, list)
        } else {
            // Without options ldns only writes the OPT record when the packet says EDNS is present.
            ldns_pkt_set_edns_version(packet.pointer, 0)
        }
        let wire = try packet.wire()
        guard wire.count > 12 + 10, wire[11] == 1 else {
            throw LdnsError(status: LDNS_STATUS_ERR, context: "ldns wrote no OPT record")
        }
        return Array(wire[12...])
    }
}

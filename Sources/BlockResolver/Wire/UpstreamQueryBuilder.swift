import CLdns

/// The query sent upstream for a client's question: RD set, the client's CD, EDNS with our UDP
/// size and the client's DO bit (so a validating client gets RRSIGs). Not the client's own
/// message: its options (cookies, client subnet) are not passed on.
///
/// Every cache miss makes one, so it is spliced like the answers are: a 12-byte header, the
/// question as the client sent it, and an OPT record ldns made once (`ldnsQuery` makes the same
/// bytes with ldns per call; a test holds the two equal).
struct UpstreamQueryBuilder: Sendable {
    /// OPT records with our UDP size, without and with DO.
    let opt: [UInt8]
    let optDO: [UInt8]

    init(udpSize: UInt16) throws(LdnsError) {
        opt = try LdnsRecord.opt(udpSize: udpSize, ede: nil)
        optDO = try LdnsRecord.opt(udpSize: udpSize, ede: nil, dnssecOK: true)
    }

    /// The query with ID 0 (the sender sets its own).
    func query(_ question: Question, dnssecOK: Bool, checkingDisabled: Bool) -> [UInt8] {
        let opt = dnssecOK ? optDO : opt
        let flags = DNSHeader.flagRD | (checkingDisabled ? DNSHeader.flagCD : 0)
        let size = 12 + question.name.count + 4 + opt.count
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var out = RawWriter(UnsafeMutableRawBufferPointer(buffer))
            out.header(id: 0, flags: flags, answers: 0, authorities: 0, additionals: 1)
            question.name.withUnsafeBufferPointer { out.question($0, type: question.type, class: question.class) }
            out.bytes(opt)
            count = out.position
        }
    }

    /// The same query made by ldns as a whole packet.
    static func ldnsQuery(_ question: Question, dnssecOK: Bool, checkingDisabled: Bool,
                          udpSize: UInt16) throws -> [UInt8] {
        let packet = try LdnsPacket()
        let pointer = packet.pointer
        // ldns_rr_new copies nothing; the question record and its owner then belong to the packet.
        guard let record = ldns_rr_new(), let owner = question.name.withUnsafeBufferPointer({ name in
            ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, name.count, name.baseAddress)
        }) else { throw QueryBuilder.Failure(description: "cannot build the upstream query") }
        ldns_rr_set_owner(record, owner)
        ldns_rr_set_type(record, ldns_rr_type(rawValue: UInt32(question.type)))
        ldns_rr_set_class(record, ldns_rr_class(rawValue: UInt32(question.class)))
        ldns_rr_set_question(record, 1)
        _ = ldns_pkt_push_rr(pointer, LDNS_SECTION_QUESTION, record)
        ldns_pkt_set_rd(pointer, 1)
        ldns_pkt_set_cd(pointer, checkingDisabled ? 1 : 0)
        ldns_pkt_set_edns_udp_size(pointer, udpSize)
        ldns_pkt_set_edns_do(pointer, dnssecOK ? 1 : 0)
        return try packet.wire()
    }
}

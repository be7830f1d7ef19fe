import CLdns

/// Checks an upstream's reply with ldns before it is relayed (RFC 5452): it must parse, be a
/// response, carry the ID we sent and the question we asked. Also reads what the cache needs,
/// and makes the image every client is answered from (`ReplyImage`).
enum ReplyParser {
    struct Reply: Sendable {
        let truncated: Bool
        let rcode: UInt8
        let answerCount: Int
        /// The smallest TTL of the answer and authority records (nil when there are none).
        let minimumTTL: UInt32?
        /// RFC 2308 negative TTL: min(SOA TTL, SOA MINIMUM) of the authority SOA, if any.
        let negativeTTL: UInt32?
        /// The message as it is relayed and cached.
        let image: ReplyImage
    }

    /// What the reply says when `bytes` answers `question` sent with `id`; nil when it does not.
    static func check(_ bytes: UnsafeRawBufferPointer, id: UInt16, question: Question) -> Reply? {
        guard bytes.count >= DNSHeader.size, let packet = try? LdnsPacket(wire: bytes) else { return nil }
        // Everything read below points into the packet: keep it alive to the end.
        return withExtendedLifetime(packet) { check(packet, bytes: bytes, id: id, question: question) }
    }

    private static func check(_ packet: LdnsPacket, bytes: UnsafeRawBufferPointer, id: UInt16,
                              question: Question) -> Reply? {
        let pointer = packet.pointer
        guard ldns_pkt_id(pointer) == id, ldns_pkt_qr(pointer) != 0, let asked = packet.question,
              let owner = ldns_rr_owner(asked), let data = ldns_rdf_data(owner)
        else { return nil }
        let name = UnsafeBufferPointer(start: data, count: ldns_rdf_size(owner))
        guard question.matches(name: name, type: UInt16(ldns_rr_get_type(asked).rawValue),
                               class: UInt16(ldns_rr_get_class(asked).rawValue)),
              let image = ReplyImage(bytes, packet: packet)
        else { return nil }
        var minimum: UInt32? = nil
        var negative: UInt32? = nil
        for list in [ldns_pkt_answer(pointer), ldns_pkt_authority(pointer)] {
            guard let list else { continue }
            for index in 0..<ldns_rr_list_rr_count(list) {
                guard let record = ldns_rr_list_rr(list, index) else { continue }
                let ttl = ReplyImage.ttl(ldns_rr_ttl(record))
                minimum = min(minimum ?? ttl, ttl)
                if ldns_rr_get_type(record) == LDNS_RR_TYPE_SOA, ldns_rr_rd_count(record) == 7,
                   let field = ldns_rr_rdf(record, 6) {
                    negative = min(ttl, ReplyImage.ttl(ldns_rdf2native_int32(field)))
                }
            }
        }
        return Reply(truncated: ldns_pkt_tc(pointer) != 0, rcode: UInt8(ldns_pkt_get_rcode(pointer).rawValue),
                     answerCount: Int(ldns_pkt_ancount(pointer)), minimumTTL: minimum, negativeTTL: negative,
                     image: image)
    }
}

import CLdns

/// An answer the response policy writes in place of the upstream's, by ldns: the chain of the
/// upstream's answer up to the name that matched, then the policy's records, then (for a policy
/// CNAME that was followed) the answer for its target. Rare next to relayed answers (only what
/// a chain or address trigger rewrites), so it is built as a whole packet rather than spliced.
///
/// The result is a `ReplyImage` without an OPT record, answered to the client like any other
/// (its ID, its spelling, the list's OPT with the Extended DNS Error).
enum ReplyRewrite {
    /// What goes into the rewritten answer.
    struct Parts {
        /// The client's question.
        var question: Question
        /// RD and CD as the query had them (QR and RA are set).
        var flags: UInt16
        var rcode: UInt8
        /// The answer whose first `keep` answer records come first (the chain up to the match).
        var base: ReplyImage? = nil
        var keep = 0
        /// Zone-file lines with absolute owners, appended to the answer section.
        var records: [String] = []
        /// The answer for a followed policy CNAME's target: its answer records come last, and
        /// when it has none, its authority records (the SOA of a negative answer).
        var followed: ReplyImage? = nil
        /// Zone-file lines for the authority section.
        var authority: [String] = []
    }

    static func build(_ parts: Parts) -> ReplyImage? {
        guard let packet = try? LdnsPacket() else { return nil }
        let pointer = packet.pointer
        ldns_pkt_set_qr(pointer, 1)
        ldns_pkt_set_ra(pointer, 1)
        ldns_pkt_set_rd(pointer, parts.flags & DNSHeader.flagRD != 0 ? 1 : 0)
        ldns_pkt_set_cd(pointer, parts.flags & DNSHeader.flagCD != 0 ? 1 : 0)
        ldns_pkt_set_rcode(pointer, parts.rcode & 0x0F)
        // ldns_rr_new copies nothing; the question record and its owner then belong to the packet.
        guard let question = ldns_rr_new(), let owner = parts.question.name.withUnsafeBufferPointer({ name in
            ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, name.count, name.baseAddress)
        }) else { return nil }
        ldns_rr_set_owner(question, owner)
        ldns_rr_set_type(question, ldns_rr_type(rawValue: UInt32(parts.question.type)))
        ldns_rr_set_class(question, ldns_rr_class(rawValue: UInt32(parts.question.class)))
        ldns_rr_set_question(question, 1)
        guard ldns_pkt_push_rr(pointer, LDNS_SECTION_QUESTION, question) != 0 else {
            ldns_rr_free(question)
            return nil
        }
        if let base = parts.base, parts.keep > 0 {
            guard copy(from: base, section: LDNS_SECTION_ANSWER, first: parts.keep, into: pointer) else { return nil }
        }
        for line in parts.records {
            guard push(line, section: LDNS_SECTION_ANSWER, into: pointer) else { return nil }
        }
        if let followed = parts.followed {
            guard copy(from: followed, section: LDNS_SECTION_ANSWER, first: .max, into: pointer) else { return nil }
            if followed.answerCount == 0 && parts.authority.isEmpty,
               !copy(from: followed, section: LDNS_SECTION_AUTHORITY, first: .max, into: pointer) {
                return nil
            }
        }
        for line in parts.authority {
            guard push(line, section: LDNS_SECTION_AUTHORITY, into: pointer) else { return nil }
        }
        guard let wire = try? packet.wire() else { return nil }
        return ReplyImage(built: wire)
    }

    /// Copies the first `count` records of `image`'s `section` into `packet`.
    private static func copy(from image: ReplyImage, section: ldns_pkt_section, first count: Int,
                             into packet: UnsafeMutablePointer<ldns_pkt>) -> Bool {
        guard let source = image.wire.withUnsafeBytes({ try? LdnsPacket(wire: $0) }) else { return false }
        let list: UnsafeMutablePointer<ldns_rr_list>?
        switch section {
        case LDNS_SECTION_ANSWER: list = ldns_pkt_answer(source.pointer)
        default: list = ldns_pkt_authority(source.pointer)
        }
        guard let list else { return true }
        for index in 0..<min(ldns_rr_list_rr_count(list), count) {
            // The clone belongs to `packet` once pushed, and is freed with it.
            guard let record = ldns_rr_list_rr(list, index), let clone = ldns_rr_clone(record) else { return false }
            if ldns_pkt_push_rr(packet, section, clone) == 0 {
                ldns_rr_free(clone)
                return false
            }
        }
        return true
    }

    /// Adds the record written as zone-file `line` (absolute owner) to `packet`.
    private static func push(_ line: String, section: ldns_pkt_section,
                             into packet: UnsafeMutablePointer<ldns_pkt>) -> Bool {
        var record: UnsafeMutablePointer<ldns_rr>? = nil
        guard ldns_rr_new_frm_str(&record, line, 3600, nil, nil) == LDNS_STATUS_OK, let record else { return false }
        if ldns_pkt_push_rr(packet, section, record) == 0 {
            ldns_rr_free(record)
            return false
        }
        return true
    }
}

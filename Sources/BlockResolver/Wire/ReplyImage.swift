import CLdns
import NIOCore
import ResolverConfig

/// An upstream's answer as the resolver keeps and relays it: the message without the upstream's
/// OPT record, with the position of every TTL, ready to be sent to any client that asked the
/// same question. The relay and the cache answer from it the same way (`answer`), so a client
/// gets the same message from the upstream as from the cache: its ID, its own spelling of the
/// name, TTLs counted down, and the resolver's own OPT when it sent one (none when it did not:
/// RFC 6891 7; the upstream's options are never passed through).
///
/// Bytes are patched only at positions `MessageLayout` found in a message ldns accepted. When the
/// layout does not allow that (a compressed question name, an OPT record that is not the last
/// record), the message is written anew by ldns from the parsed packet instead.
struct ReplyImage: Sendable {
    /// The message as received (the ID is replaced per answer), without its OPT record.
    let wire: [UInt8]
    let ttlOffsets: [Int]
    /// Each record's TTL as received.
    let ttls: [UInt32]
    /// The names and addresses the answer leads to, for the response policy.
    let chain: AnswerChain

    /// The image of `bytes`, the reply ldns parsed into `packet`; nil when neither way works.
    init?(_ bytes: UnsafeRawBufferPointer, packet: LdnsPacket) {
        var chain = AnswerChain.empty
        if let question = packet.question, let owner = ldns_rr_owner(question), let data = ldns_rdf_data(owner) {
            let name = UnsafeBufferPointer(start: data, count: ldns_rdf_size(owner)).map { DomainName.lowercase($0) }
            chain = AnswerChain(packet, question: name)
        }
        if let layout = MessageLayout(bytes), layout.questionIsPlain,
           layout.opts.isEmpty || layout.trailingOPT != nil {
            let end = layout.trailingOPT?.start ?? layout.end
            var wire = Array(UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
            if layout.trailingOPT != nil {
                let additional = (UInt16(wire[10]) << 8 | UInt16(wire[11])) - 1  // counted the OPT
                wire[10] = UInt8(additional >> 8)
                wire[11] = UInt8(additional & 0xFF)
            }
            // ldns reads a record's data by its type, the walker by its declared length, and ldns
            // follows compression pointers forward (into the OPT record that is cut off, say):
            // where the two disagree, the patched bytes are not what ldns accepted. Found by the
            // `reply` fuzz target; such a reply is written anew instead.
            if Self.parsesAsSent(wire, ttlOffsets: layout.ttlOffsets, packet: packet) {
                self.init(wire: wire, ttlOffsets: layout.ttlOffsets, chain: chain)
                return
            }
        }
        guard let wire = Self.rebuilt(packet), let layout = wire.withUnsafeBytes({ MessageLayout($0) }),
              layout.questionIsPlain, layout.opts.isEmpty,
              Self.parsesAsSent(wire, ttlOffsets: layout.ttlOffsets, packet: packet)
        else { return nil }
        self.init(wire: wire, ttlOffsets: layout.ttlOffsets, chain: chain)
    }

    /// Whether `wire`, patched as it is sent, is a message ldns reads with the records `packet`
    /// has (the OPT aside): alone, as to a client without EDNS (a compression pointer past its
    /// end fails here), and with its ID and every TTL at `ttlOffsets` overwritten and an OPT
    /// record after it, as to one with EDNS, read back field by field. The bytes written are all
    /// 0xFF, which cannot start a name, so a compression pointer aimed into a patched field
    /// fails; and ldns must read
    /// every TTL back as written, so a record it reads longer or shorter than its declared length
    /// (which moves the records after it) fails too. Letters, the only bytes the client's
    /// spelling changes, cannot start a name either way.
    private static func parsesAsSent(_ wire: [UInt8], ttlOffsets: [Int], packet: LdnsPacket) -> Bool {
        func sameCounts(_ other: LdnsPacket) -> Bool {
            ldns_pkt_ancount(other.pointer) == ldns_pkt_ancount(packet.pointer)
                && ldns_pkt_nscount(other.pointer) == ldns_pkt_nscount(packet.pointer)
                && ldns_pkt_arcount(other.pointer) == ldns_pkt_arcount(packet.pointer)
        }
        guard let alone = wire.withUnsafeBytes({ try? LdnsPacket(wire: $0) }), sameCounts(alone) else { return false }
        var sent = wire
        sent[0] = 0xFF
        sent[1] = 0xFF
        for offset in ttlOffsets { sent.replaceSubrange(offset..<(offset + 4), with: [0xFF, 0xFF, 0xFF, 0xFF]) }
        let additional = (UInt16(sent[10]) << 8 | UInt16(sent[11])) &+ 1
        sent[10] = UInt8(additional >> 8)
        sent[11] = UInt8(additional & 0xFF)
        sent += [0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]  // root, OPT, UDP 1232, DO, no options
        // ldns must read that OPT record as written, field by field: a record that ldns reads
        // shorter than its RDLENGTH makes it read an OPT out of bytes before ours, with our
        // bytes in other fields (found by the `reply` fuzz target: a DNAME whose name ends early).
        guard let parsed = sent.withUnsafeBytes({ try? LdnsPacket(wire: $0) }), sameCounts(parsed),
              ldns_pkt_edns(parsed.pointer) != 0, ldns_pkt_edns_udp_size(parsed.pointer) == 1232,
              ldns_pkt_edns_do(parsed.pointer) != 0, ldns_pkt_edns_z(parsed.pointer) & 0x7FFF == 0,
              ldns_pkt_edns_version(parsed.pointer) == 0, ldns_pkt_edns_extended_rcode(parsed.pointer) == 0,
              ldns_pkt_edns_data(parsed.pointer).map({ ldns_rdf_size($0) == 0 }) ?? true
        else { return false }
        var read: [UInt32] = []
        for list in [ldns_pkt_answer(parsed.pointer), ldns_pkt_authority(parsed.pointer),
                     ldns_pkt_additional(parsed.pointer)] {
            guard let list else { continue }
            for index in 0..<ldns_rr_list_rr_count(list) {
                if let record = ldns_rr_list_rr(list, index) { read.append(ldns_rr_ttl(record)) }
            }
        }
        return read.count == ttlOffsets.count && read.allSatisfy { $0 == .max }
    }

    /// The image of a message ldns wrote for the resolver (a rewritten answer: `ReplyRewrite`),
    /// which carries no OPT record and is not judged again.
    init?(built wire: [UInt8]) {
        guard let layout = wire.withUnsafeBytes({ MessageLayout($0) }), layout.questionIsPlain, layout.opts.isEmpty
        else { return nil }
        self.init(wire: wire, ttlOffsets: layout.ttlOffsets, chain: .empty)
    }

    private init(wire: [UInt8], ttlOffsets: [Int], chain: AnswerChain) {
        self.wire = wire
        self.ttlOffsets = ttlOffsets
        self.chain = chain
        ttls = ttlOffsets.map { offset in
            Self.ttl(UInt32(wire[offset]) << 24 | UInt32(wire[offset + 1]) << 16 | UInt32(wire[offset + 2]) << 8
                     | UInt32(wire[offset + 3]))
        }
    }

    /// A TTL as read off the wire: one with the top bit set counts as 0 (RFC 2181 8), for the
    /// relayed answer, the cached one and the cache's lifetime alike.
    @inline(__always)
    static func ttl(_ wire: UInt32) -> UInt32 {
        wire & 0x8000_0000 == 0 ? wire : 0
    }

    /// The header's response code.
    var rcode: UInt8 { wire[3] & 0x0F }

    /// Records in the answer section.
    var answerCount: Int { Int(wire[6]) << 8 | Int(wire[7]) }

    /// The parsed reply written again by ldns, header and records, without EDNS: a fresh packet
    /// gets copies of every record, so nothing of the upstream's OPT comes along.
    private static func rebuilt(_ packet: LdnsPacket) -> [UInt8]? {
        guard let copy = try? LdnsPacket() else { return nil }
        let from = packet.pointer
        let to = copy.pointer
        ldns_pkt_set_id(to, ldns_pkt_id(from))
        ldns_pkt_set_qr(to, ldns_pkt_qr(from))
        ldns_pkt_set_aa(to, ldns_pkt_aa(from))
        ldns_pkt_set_tc(to, ldns_pkt_tc(from))
        ldns_pkt_set_rd(to, ldns_pkt_rd(from))
        ldns_pkt_set_cd(to, ldns_pkt_cd(from))
        ldns_pkt_set_ra(to, ldns_pkt_ra(from))
        ldns_pkt_set_ad(to, ldns_pkt_ad(from))
        ldns_pkt_set_opcode(to, ldns_pkt_get_opcode(from))
        ldns_pkt_set_rcode(to, UInt8(ldns_pkt_get_rcode(from).rawValue & 0x0F))
        let sections: [(ldns_pkt_section, UnsafeMutablePointer<ldns_rr_list>?)] = [
            (LDNS_SECTION_QUESTION, ldns_pkt_question(from)), (LDNS_SECTION_ANSWER, ldns_pkt_answer(from)),
            (LDNS_SECTION_AUTHORITY, ldns_pkt_authority(from)), (LDNS_SECTION_ADDITIONAL, ldns_pkt_additional(from)),
        ]
        for (section, list) in sections {
            guard let list else { continue }
            for index in 0..<ldns_rr_list_rr_count(list) {
                // The clone belongs to `copy` once pushed, and is freed with it.
                guard let record = ldns_rr_list_rr(list, index), let clone = ldns_rr_clone(record) else { return nil }
                if ldns_pkt_push_rr(to, section, clone) == 0 {
                    ldns_rr_free(clone)
                    return nil
                }
            }
        }
        return try? copy.wire()
    }

    /// The answer to a client: `id`, the client's spelling of the question name (the same name
    /// apart from letter case, so the same length), every TTL at most `ttlCap` and counted down
    /// by `elapsed` seconds (or all `staleTTL` for an answer served stale), and `opt` (DO as the
    /// client asked) when the client sent an OPT record.
    func answer(id: UInt16, question: UnsafeBufferPointer<UInt8>, ttlCap: UInt32 = .max, elapsed: UInt32 = 0,
                staleTTL: UInt32? = nil, opt: OPTTemplate?, dnssecOK: Bool,
                allocator: ByteBufferAllocator) -> ByteBuffer {
        let size = wire.count + (opt?.count ?? 0)
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var out = RawWriter(raw)
            out.bytes(wire)
            out.set(id, at: 0)
            if DNSHeader.size + question.count <= wire.count { out.set(question, at: DNSHeader.size) }
            for (index, offset) in ttlOffsets.enumerated() {
                let ttl = min(ttls[index], ttlCap)
                out.set(staleTTL ?? (ttl > elapsed ? ttl - elapsed : 0), at: offset)
            }
            if let opt {
                let additional = UInt16(wire[10]) << 8 | UInt16(wire[11])
                out.set(additional &+ 1, at: 10)
                out.opt(opt, dnssecOK: dnssecOK)
            }
            return out.position
        }
        return buffer
    }
}

import NIOCore

/// Writes the messages the server makes itself, by splicing a header, the client's question and
/// records prepared by ldns (the templates of `Answer/`, `OPTTemplate`). Only copies bytes;
/// every byte comes from the query or from ldns. What goes into a blocked answer is decided in
/// `Answer/`; this type only lays it out.
enum MessageWriter {
    /// The answer section of a blocked query, as template records owned by a compression
    /// pointer to the question name.
    enum Records {
        case none
        case one([UInt8])
        /// A CNAME to the landing host, then (when the type asks for it) the host's address,
        /// whose owner pointer is aimed at the CNAME's target.
        case cname([UInt8], address: [UInt8]?)
        case many([[UInt8]])
    }

    /// A blocked `query`'s answer: `records`, a SOA in the authority section when given (its
    /// owner a pointer to the listed suffix, `suffixOffset` bytes into the question name), and
    /// `opt` when the query had EDNS.
    ///
    /// Every blocked query comes through here, so the message is sized first and written with one
    /// reserve and plain copies (`RawWriter`), not a ByteBuffer call per field.
    static func writeBlocked(_ query: Query, rcode: UInt8, records: Records, soaAfterOwner: [UInt8]?,
                             suffixOffset: Int, opt: OPTTemplate, into buffer: inout ByteBuffer) {
        let opt = query.edns == nil ? nil : opt
        var answers = 0
        var size = DNSHeader.size + query.name.count + 4
        switch records {
        case .none: break
        case .one(let record): answers = 1; size += record.count
        case .cname(let cname, let address): answers = address == nil ? 1 : 2; size += cname.count + (address?.count ?? 0)
        case .many(let list): answers = list.count; for record in list { size += record.count }
        }
        if let soaAfterOwner { size += 2 + soaAfterOwner.count }
        size += opt?.count ?? 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var out = RawWriter(raw)
            out.header(id: query.id, flags: query.replyFlags | UInt16(rcode & 0x0F), answers: UInt16(answers),
                       authorities: soaAfterOwner == nil ? 0 : 1, additionals: opt == nil ? 0 : 1)
            out.question(query.name, type: query.type, class: query.class)
            switch records {
            case .none: break
            case .one(let record): out.bytes(record)
            case .cname(let cname, let address):
                // The landing host's address is owned by the CNAME's target, 12 bytes into that record.
                let target = out.position + 12
                out.bytes(cname)
                if let address {
                    out.uint16(0xC000 | UInt16(target))
                    address.withUnsafeBytes { out.bytes(UnsafeRawBufferPointer(rebasing: $0.dropFirst(2))) }
                }
            case .many(let list): for record in list { out.bytes(record) }
            }
            if let soaAfterOwner {
                out.uint16(0xC000 | UInt16(DNSHeader.size + suffixOffset))
                out.bytes(soaAfterOwner)
            }
            if let opt { out.opt(opt, dnssecOK: query.dnssecOK) }
            return out.position
        }
    }

    /// A reply with no records but the question, and `opt` when given: REFUSED, SERVFAIL,
    /// BADVERS (the rcode then in `opt`), or a truncated reply (`flags` with TC).
    static func writeEmpty(id: UInt16, flags: UInt16, rcode: UInt8, name: UnsafeBufferPointer<UInt8>, type: UInt16,
                           class qclass: UInt16, opt: OPTTemplate?, dnssecOK: Bool, into buffer: inout ByteBuffer) {
        let size = DNSHeader.size + name.count + 4 + (opt?.count ?? 0)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var out = RawWriter(raw)
            out.header(id: id, flags: flags | UInt16(rcode & 0x0F), answers: 0, authorities: 0,
                       additionals: opt == nil ? 0 : 1)
            out.question(name, type: type, class: qclass)
            if let opt { out.opt(opt, dnssecOK: dnssecOK) }
            return out.position
        }
    }

    /// `writeEmpty` for a query being answered; `opt` goes out only when the query had EDNS.
    static func empty(_ query: Query, rcode: UInt8, opt: OPTTemplate, allocator: ByteBufferAllocator,
                      flags extra: UInt16 = 0) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: DNSHeader.size + query.name.count + 4 + opt.count)
        writeEmpty(id: query.id, flags: query.replyFlags | extra, rcode: rcode, name: query.name, type: query.type,
                   class: query.class, opt: query.edns == nil ? nil : opt, dnssecOK: query.dnssecOK, into: &buffer)
        return buffer
    }

    /// A NOERROR answer with `records` (templates owned by a pointer to the question name).
    static func records(_ query: Query, _ records: [[UInt8]], opt: OPTTemplate,
                        allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: DNSHeader.size + query.name.count + 4 + opt.count + 64)
        writeBlocked(query, rcode: DNSHeader.rcodeNOERROR, records: .many(records), soaAfterOwner: nil,
                     suffixOffset: 0, opt: opt, into: &buffer)
        return buffer
    }

    /// `reply` when it fits in `limit` bytes, else the one truncated reply of the resolver: the
    /// question with TC set and no records, so that the client asks again over TCP (RFC 7766).
    static func fit(_ reply: ByteBuffer, limit: Int, id: UInt16, flags: UInt16, question: Question,
                    opt: OPTTemplate?, dnssecOK: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        if reply.readableBytes <= limit { return reply }
        var truncated = allocator.buffer(capacity: DNSHeader.size + question.name.count + 4 + (opt?.count ?? 0))
        question.name.withUnsafeBufferPointer { name in
            writeEmpty(id: id, flags: flags | DNSHeader.flagTC, rcode: DNSHeader.rcodeNOERROR, name: name,
                       type: question.type, class: question.class, opt: opt, dnssecOK: dnssecOK, into: &truncated)
        }
        return truncated
    }

    /// `fit` for a query still being answered.
    static func fit(_ reply: ByteBuffer, limit: Int, query: Query, opt: OPTTemplate,
                    allocator: ByteBufferAllocator) -> ByteBuffer {
        reply.readableBytes <= limit ? reply : truncated(query, opt: opt, allocator: allocator)
    }

    /// The truncated reply to `query` (TC, the question, no records): the answer was too large,
    /// the rate limit says so, or an RPZ rule wants TCP.
    static func truncated(_ query: Query, opt: OPTTemplate, allocator: ByteBufferAllocator) -> ByteBuffer {
        empty(query, rcode: DNSHeader.rcodeNOERROR, opt: opt, allocator: allocator, flags: DNSHeader.flagTC)
    }
}

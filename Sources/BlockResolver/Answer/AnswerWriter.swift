import NIOCore

/// Writes the answers the server makes itself, by splicing a header, the client's question and
/// records prepared by ldns (`ListAnswer`). Only copies bytes; every byte comes from the query or
/// from ldns.
enum AnswerWriter {
    static let typeA: UInt16 = 1
    static let typeAAAA: UInt16 = 28
    static let classIN: UInt16 = 1
    static let flagQR: UInt16 = 0x8000
    static let flagAA: UInt16 = 0x0400
    static let flagTC: UInt16 = 0x0200
    static let flagRD: UInt16 = 0x0100
    static let flagRA: UInt16 = 0x0080
    static let flagCD: UInt16 = 0x0010
    static let rcodeNXDOMAIN: UInt8 = 3
    static let rcodeREFUSED: UInt8 = 5

    /// What a blocked query is answered with.
    enum Blocked {
        /// A/AAAA with the sinkhole (or CNAME to the landing host), NODATA for other types.
        case sinkhole
        case nxdomain
        case nodata
        case refused
        /// RPZ local data.
        case local(LocalAnswer)
    }

    /// The answer for a blocked `query`; the OPT (with the list's EDE) when the query had EDNS.
    /// `suffixOffset` is where the listed name starts inside the question name.
    ///
    /// Every blocked query comes through here, so the message is sized first and written with one
    /// reserve and plain copies (`RawWriter`), not a ByteBuffer call per field.
    static func writeBlocked(_ query: Query, _ kind: Blocked, suffixOffset: Int, answer: ListAnswer,
                             into buffer: inout ByteBuffer) {
        let isIN = query.class == classIN
        var rcode: UInt8 = 0
        var withSOA = false
        var address: [UInt8]? = nil
        var cname: [UInt8]? = nil
        var local: [[UInt8]] = []
        switch kind {
        case .sinkhole:
            address = !isIN ? nil : query.type == typeA ? answer.a : query.type == typeAAAA ? answer.aaaa : nil
            cname = answer.cname
            withSOA = address == nil && cname == nil
        case .nxdomain:
            rcode = rcodeNXDOMAIN
            withSOA = true
        case .nodata:
            withSOA = true
        case .refused:
            rcode = rcodeREFUSED
        case .local(let data):
            local = data.answering(query.type)
            withSOA = local.isEmpty
        }
        let answers = (address == nil ? 0 : 1) + (cname == nil ? 0 : 1) + local.count
        let opt = query.edns == nil ? nil : answer.opt
        var size = 12 + query.name.count + 4 + (cname?.count ?? 0) + (address?.count ?? 0)
        for record in local { size += record.count }
        if withSOA { size += 2 + answer.soaAfterOwner.count }
        size += opt?.count ?? 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var out = RawWriter(raw)
            out.header(id: query.id, flags: replyFlags(query) | UInt16(rcode), answers: UInt16(answers),
                       authorities: withSOA ? 1 : 0, additionals: opt == nil ? 0 : 1)
            out.question(query.name, type: query.type, class: query.class)
            if let cname {
                // The landing host's address is owned by the CNAME's target, 12 bytes into that record.
                let target = out.position + 12
                out.bytes(cname)
                if let address {
                    out.uint16(0xC000 | UInt16(target))
                    address.withUnsafeBytes { out.bytes(UnsafeRawBufferPointer(rebasing: $0.dropFirst(2))) }
                }
            } else if let address {
                out.bytes(address)
            }
            for record in local { out.bytes(record) }
            if withSOA {
                // Owner of the SOA: a pointer to the listed suffix of the question name (offset 12 + suffix).
                out.uint16(0xC000 | UInt16(QueryParser.headerSize + suffixOffset))
                out.bytes(answer.soaAfterOwner)
            }
            if let opt { out.bytes(opt) }
            return out.position
        }
    }

    /// A reply with no records but the question (and OPT when the client used EDNS): SERVFAIL when
    /// every upstream failed, or a truncated reply telling a UDP client to retry over TCP.
    static func writeEmpty(id: UInt16, flags: UInt16, rcode: UInt8, question: Question, opt: [UInt8]?,
                           into buffer: inout ByteBuffer) {
        writeHeader(id: id, flags: flags | UInt16(rcode & 0xF), answers: 0, authorities: 0,
                    additionals: opt == nil ? 0 : 1, into: &buffer)
        question.name.withUnsafeBufferPointer { name in
            writeQuestion(name: name, type: question.type, class: question.class, into: &buffer)
        }
        if let opt { buffer.writeBytes(opt) }
    }

    /// The same as `writeEmpty` for a query still being parsed.
    static func writeEmpty(_ query: Query, flags: UInt16, rcode: UInt8, opt: [UInt8]?, into buffer: inout ByteBuffer) {
        writeHeader(id: query.id, flags: flags | UInt16(rcode & 0xF), answers: 0, authorities: 0,
                    additionals: opt == nil ? 0 : 1, into: &buffer)
        writeQuestion(name: query.name, type: query.type, class: query.class, into: &buffer)
        if let opt { buffer.writeBytes(opt) }
    }

    /// A NOERROR answer with `records` (templates owned by a pointer to the question name).
    static func writeRecords(_ query: Query, _ records: [[UInt8]], opt: [UInt8]?, into buffer: inout ByteBuffer) {
        writeHeader(id: query.id, flags: replyFlags(query), answers: UInt16(records.count), authorities: 0,
                    additionals: opt == nil ? 0 : 1, into: &buffer)
        writeQuestion(name: query.name, type: query.type, class: query.class, into: &buffer)
        for record in records { buffer.writeBytes(record) }
        if let opt { buffer.writeBytes(opt) }
    }

    /// QR and RA, with RD and CD as the query had them.
    @inline(__always)
    static func replyFlags(_ query: Query) -> UInt16 {
        flagQR | flagRA | (query.recursionDesired ? flagRD : 0) | (query.checkingDisabled ? flagCD : 0)
    }

    @inline(__always)
    static func writeHeader(id: UInt16, flags: UInt16, answers: UInt16, authorities: UInt16, additionals: UInt16,
                            into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(id, flags, UInt16(1), answers, authorities, additionals)
    }

    @inline(__always)
    static func writeQuestion(name: UnsafeBufferPointer<UInt8>, type: UInt16, class: UInt16, into buffer: inout ByteBuffer) {
        buffer.writeBytes(name)
        buffer.writeMultipleIntegers(type, `class`)
    }
}

/// Writes a message into memory already reserved for all of it (`size` computed first): plain
/// stores and copies, with the bounds checked only in debug builds.
struct RawWriter {
    private let base: UnsafeMutableRawBufferPointer
    private(set) var position = 0

    init(_ base: UnsafeMutableRawBufferPointer) {
        self.base = base
    }

    @inline(__always)
    mutating func uint16(_ value: UInt16) {
        assert(position + 2 <= base.count)
        base.storeBytes(of: value.bigEndian, toByteOffset: position, as: UInt16.self)
        position += 2
    }

    @inline(__always)
    mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        assert(position + bytes.count <= base.count)
        guard let source = bytes.baseAddress, let target = base.baseAddress else { return }
        (target + position).copyMemory(from: source, byteCount: bytes.count)
        position += bytes.count
    }

    @inline(__always)
    mutating func bytes(_ array: [UInt8]) {
        array.withUnsafeBytes { bytes($0) }
    }

    @inline(__always)
    mutating func header(id: UInt16, flags: UInt16, answers: UInt16, authorities: UInt16, additionals: UInt16) {
        uint16(id)
        uint16(flags)
        uint16(1)
        uint16(answers)
        uint16(authorities)
        uint16(additionals)
    }

    @inline(__always)
    mutating func question(_ name: UnsafeBufferPointer<UInt8>, type: UInt16, class: UInt16) {
        bytes(UnsafeRawBufferPointer(name))
        uint16(type)
        uint16(`class`)
    }
}

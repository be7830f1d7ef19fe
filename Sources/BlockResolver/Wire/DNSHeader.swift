import NIOCore

/// The fixed 12-byte DNS header (RFC 1035 4.1.1): flag bits, response codes and the few reads
/// of a finished message that the pipeline needs. Only `Wire/` writes these bytes.
enum DNSHeader {
    static let size = 12

    static let flagQR: UInt16 = 0x8000
    static let flagAA: UInt16 = 0x0400
    static let flagTC: UInt16 = 0x0200
    static let flagRD: UInt16 = 0x0100
    static let flagRA: UInt16 = 0x0080
    static let flagCD: UInt16 = 0x0010
    /// The bits a reply copies from the query besides RD and CD: the opcode.
    static let opcodeMask: UInt16 = 0x7800

    static let rcodeNOERROR: UInt8 = 0
    static let rcodeFORMERR: UInt8 = 1
    static let rcodeSERVFAIL: UInt8 = 2
    static let rcodeNXDOMAIN: UInt8 = 3
    static let rcodeNOTIMP: UInt8 = 4
    static let rcodeREFUSED: UInt8 = 5
    /// BADVERS (16, RFC 6891 6.1.3): its upper eight bits go in the OPT record, the header's
    /// four bits stay 0.
    static let extendedRcodeBADVERS: UInt8 = 1

    /// QR and RA, with RD and CD as the query had them.
    @inline(__always)
    static func replyFlags(recursionDesired: Bool, checkingDisabled: Bool) -> UInt16 {
        flagQR | flagRA | (recursionDesired ? flagRD : 0) | (checkingDisabled ? flagCD : 0)
    }

    /// The ID of a message (nil when it is shorter than an ID).
    static func id(of message: ByteBuffer) -> UInt16? {
        message.getInteger(at: message.readerIndex, as: UInt16.self)
    }

    /// Puts `id` into a message the resolver wrote (an upstream query: a fresh random ID per try).
    static func setID(_ id: UInt16, in message: inout ByteBuffer) {
        message.setInteger(id, at: message.readerIndex)
    }

    /// Whether a client's message has a whole header and is not a response: the least a DoH
    /// request body must be to be a DNS query (anything else is HTTP 400, RFC 8484 4.2.1).
    static func isQuery(_ message: ByteBuffer) -> Bool {
        guard message.readableBytes >= size,
              let flags = message.getInteger(at: message.readerIndex + 2, as: UInt16.self) else { return false }
        return flags & flagQR == 0
    }

    /// Whether a message the resolver wrote has TC set.
    static func isTruncated(_ message: ByteBuffer) -> Bool {
        (message.getInteger(at: message.readerIndex + 2, as: UInt16.self) ?? 0) & flagTC != 0
    }

    /// The header's four-bit response code of a message the resolver wrote.
    static func rcode(_ message: ByteBuffer) -> UInt8? {
        message.getInteger(at: message.readerIndex + 3, as: UInt8.self).map { $0 & 0x0F }
    }
}

/// Record types and classes the resolver itself looks at.
enum RecordType {
    static let a: UInt16 = 1
    static let ns: UInt16 = 2
    static let cname: UInt16 = 5
    static let soa: UInt16 = 6
    static let aaaa: UInt16 = 28
    static let opt: UInt16 = 41
    static let tsig: UInt16 = 250
    static let any: UInt16 = 255
    static let classIN: UInt16 = 1
}

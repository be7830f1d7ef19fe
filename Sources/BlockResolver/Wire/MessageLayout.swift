import NIOCore

/// Where the parts of a DNS message lie, for a message ldns has already parsed and accepted: the
/// question name, every record's TTL field, and the OPT records. The cache and the relay patch
/// bytes (ID, letter case, TTLs) and swap the OPT record only at positions found here.
///
/// It steps over names and fixed fields only; every bound is checked and anything unexpected
/// gives nil, so a message that ldns and this walker would read differently is never patched:
/// the caller re-builds it with ldns instead (`ReplyImage`).
struct MessageLayout {
    /// Whether there is one question and its name is written out in labels, without a
    /// compression pointer, so that the client's spelling can be copied over it byte for byte.
    let questionIsPlain: Bool
    /// Byte offset of every record's TTL, the OPT record excluded.
    let ttlOffsets: [Int]
    /// The OPT records.
    let opts: [OPT]
    /// Offset just past the last record (bytes after it are not part of the message).
    let end: Int

    /// One OPT record: where it starts and ends, whether its owner is the root name (RFC 6891
    /// 6.1.2), and whether it is in the additional section (6.1.1).
    struct OPT {
        let start: Int
        let end: Int
        let ownerIsRoot: Bool
        let inAdditional: Bool

        var isWellPlaced: Bool { ownerIsRoot && inAdditional }
    }

    /// The one OPT record, when it is well placed and the last record of the message: it can then
    /// be cut off or replaced without moving anything before it.
    var trailingOPT: OPT? {
        guard opts.count == 1, let opt = opts.first, opt.isWellPlaced, opt.end == end else { return nil }
        return opt
    }

    init?(_ bytes: UnsafeRawBufferPointer) {
        var ttls: [Int] = []
        var opts: [OPT] = []
        guard let walked = Self.walk(bytes, record: { opt, ttlOffset in
            if let opt { opts.append(opt) } else { ttls.append(ttlOffset) }
        }) else { return nil }
        questionIsPlain = walked.questionIsPlain
        ttlOffsets = ttls
        self.opts = opts
        end = walked.end
    }

    /// Whether a query's OPT records are as RFC 6891 6.1.1 allows: at most one, owned by the root,
    /// in the additional section. Allocates nothing (every EDNS query is checked).
    static func queryOPTIsValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var count = 0
        var valid = true
        guard walk(bytes, record: { opt, _ in
            guard let opt else { return }
            count += 1
            if !opt.isWellPlaced || count > 1 { valid = false }
        }) != nil else { return false }
        return valid
    }

    /// Whether ldns may be given the message: not when it holds more than one TSIG record.
    /// ldns_wire2pkt keeps only the last TSIG of a message and never frees the others, so a
    /// client's query or an upstream's reply with several leaked memory on every parse (found by
    /// the `reply` fuzz target; RFC 8945 5.1 allows one TSIG, the last record). One header read
    /// for the usual message (fewer than two additional records); a walk otherwise. A message
    /// with two or more additional records that does not walk cleanly is refused too, since its
    /// TSIG records cannot be counted.
    static func ldnsMayParse(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= DNSHeader.size else { return true }  // ldns refuses it itself
        if bytes[10] == 0 && bytes[11] < 2 { return true }
        var signatures = 0
        guard walk(bytes, record: { opt, ttlOffset in
            guard opt == nil else { return }
            // The type is 4 bytes before the TTL.
            if Int(bytes[ttlOffset - 4]) << 8 | Int(bytes[ttlOffset - 3]) == Int(RecordType.tsig) { signatures += 1 }
        }) != nil else { return false }
        return signatures <= 1
    }

    /// The smallest TTL of the records of a message the resolver is about to send (the OPT record
    /// left out; a TTL with the top bit set counts as 0, RFC 2181 8), for DoH's `cache-control:
    /// max-age` (RFC 8484 5.1). Nil when the message holds no record (or does not walk cleanly).
    static func smallestTTL(_ message: ByteBuffer) -> UInt32? {
        message.withUnsafeReadableBytes { bytes in
            var smallest: UInt32? = nil
            guard walk(bytes, record: { opt, offset in
                guard opt == nil else { return }
                var ttl: UInt32 = 0
                for index in offset..<offset + 4 { ttl = ttl << 8 | UInt32(bytes[index]) }
                if ttl & 0x8000_0000 != 0 { ttl = 0 }
                smallest = min(smallest ?? ttl, ttl)
            }) != nil else { return nil }
            return smallest
        }
    }

    /// Steps over the question and every record, calling `record` with each OPT record (or nil
    /// and the TTL offset of any other record). Nil when the message does not walk cleanly.
    private static func walk(_ bytes: UnsafeRawBufferPointer, record: (OPT?, Int) -> Void)
        -> (questionIsPlain: Bool, end: Int)? {
        guard bytes.count >= DNSHeader.size else { return nil }
        func u16(_ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
        let questions = u16(4)
        let answersAndAuthorities = u16(6) + u16(8)
        let records = answersAndAuthorities + u16(10)
        var position = DNSHeader.size

        /// Steps over a name: labels up to the root, or up to and including a compression pointer.
        func skipName(_ compressed: inout Bool) -> Bool {
            var steps = 0
            while position < bytes.count && steps < 128 {
                let length = Int(bytes[position])
                if length == 0 { position += 1; return true }
                if length & 0xC0 == 0xC0 { position += 2; compressed = true; return position <= bytes.count }
                if length & 0xC0 != 0 { return false }
                position += length + 1
                steps += 1
            }
            return false
        }

        var plain = questions == 1
        for _ in 0..<questions {
            var compressed = false
            guard skipName(&compressed), position + 4 <= bytes.count else { return nil }
            if compressed { plain = false }
            position += 4
        }
        for index in 0..<records {
            let start = position
            var compressed = false
            guard skipName(&compressed), position + 10 <= bytes.count else { return nil }
            let type = UInt16(u16(position))
            let length = u16(position + 8)
            let end = position + 10 + length
            guard end <= bytes.count else { return nil }
            if type == RecordType.opt {
                record(OPT(start: start, end: end, ownerIsRoot: position == start + 1,
                           inAdditional: index >= answersAndAuthorities), 0)
            } else {
                record(nil, position + 4)
            }
            position = end
        }
        return (plain, position)
    }
}

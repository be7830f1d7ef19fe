import CLdns
import NIOCore

/// EDNS padding (RFC 7830) of the answers sent over DoT and DoH, so that their length says less
/// about the name asked: only to a client that padded its query (RFC 8467 4.1), to a multiple
/// of 468 bytes, the block size RFC 8467 recommends for responses. The padded answer is written
/// by ldns (the Padding option added to the answer's own OPT record).
enum EDNSPadding {
    static let responseBlockSize = 468
    static let optionCode: UInt16 = 12

    /// Whether a client's message has an OPT record holding a Padding option. Walks the bytes
    /// with `MessageLayout` (bounds checked); nothing is parsed when there is no OPT record.
    static func requested(_ query: ByteBuffer) -> Bool {
        query.withUnsafeReadableBytes { bytes in
            guard let layout = MessageLayout(bytes), let opt = layout.opts.first, opt.ownerIsRoot else { return false }
            // Root owner (1 byte), type, class, TTL (8 bytes), RDLENGTH (2), then the options.
            var position = opt.start + 1 + 10
            while position + 4 <= opt.end {
                let code = UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
                let length = Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
                if code == optionCode { return true }
                position += 4 + length
            }
            return false
        }
    }

    /// `reply` with a Padding option that brings it to a multiple of the block size; `reply` as
    /// it is when it has no OPT record, ldns cannot read it, or padding would pass 65,535 bytes.
    static func padded(_ reply: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let wire: [UInt8]? = reply.withUnsafeReadableBytes { bytes in
            guard let packet = try? LdnsPacket(wire: bytes), ldns_pkt_edns(packet.pointer) != 0 else { return nil }
            let length = bytes.count + 4  // the option's code and length
            let padding = (responseBlockSize - length % responseBlockSize) % responseBlockSize
            guard length + padding <= Int(UInt16.max) else { return nil }
            let list: UnsafeMutablePointer<ldns_edns_option_list>
            if let existing = ldns_pkt_edns_get_option_list(packet.pointer) {
                list = existing
            } else {
                guard let created = ldns_edns_option_list_new() else { return nil }
                ldns_pkt_set_edns_option_list(packet.pointer, created)  // the packet frees it
                list = created
            }
            let zeros = [UInt8](repeating: 0, count: max(1, padding))
            let option = zeros.withUnsafeBytes {
                ldns_edns_new_from_data(LDNS_EDNS_PADDING, padding, $0.baseAddress)
            }
            guard let option, ldns_edns_option_list_push(list, option) != 0 else { return nil }
            return try? packet.wire()
        }
        guard let wire else { return reply }
        return allocator.buffer(bytes: wire)
    }
}

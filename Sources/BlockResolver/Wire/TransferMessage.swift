import CLdns
#if canImport(Glibc)
import Glibc
#endif

/// The messages of a zone transfer (RFC 5936 AXFR, RFC 1995 IXFR), of the SOA check before it and
/// of NOTIFY (RFC 1996), built and read with ldns, and signed and checked with TSIG (RFC 8945)
/// when a key is set. Records leave this type as zone-file text (`TransferRecord`), so nothing
/// outside `Wire/` holds an ldns value.
enum TransferMessage {
    /// A key as ldns's TSIG functions take it.
    struct Key: Sendable {
        let name: String
        let algorithm: String
        let secret: String
    }

    /// One record of a transfer: its zone-file line as ldns writes it (owner in lower case), the
    /// same without its TTL (what a deletion is matched by), and the SOA serial of a SOA record.
    struct TransferRecord: Sendable, Equatable {
        let line: String
        let key: String
        let soaSerial: UInt32?
        let soaRefresh: UInt32?
        let soaRetry: UInt32?
    }

    /// A query made for the primary, with what its replies are checked against.
    struct Request {
        let id: UInt16
        let wire: [UInt8]
        /// The MAC of the signed query, the first reply's TSIG covers it.
        let mac: [UInt8]?
    }

    enum Kind: UInt16 {
        case soa = 6
        case ixfr = 251
        case axfr = 252
    }

    /// A query for `zone`: SOA, AXFR, or IXFR from `serial` (a SOA with that serial in the
    /// authority section, RFC 1995 3), signed with `key` when there is one.
    static func request(zone: String, kind: Kind, serial: UInt32 = 0, key: Key?) throws(LdnsError) -> Request {
        let id = UInt16.random(in: 0...UInt16.max)
        guard let name = ldns_dname_new_frm_str(zone) else {
            throw LdnsError(status: LDNS_STATUS_DOMAINNAME_OVERFLOW, context: "zone \(zone)")
        }
        let packet: LdnsPacket
        if kind == .ixfr {
            var soa: UnsafeMutablePointer<ldns_rr>? = nil
            try LdnsError.check(ldns_rr_new_frm_str(&soa, "\(zone) 0 IN SOA . . \(serial) 0 0 0 0", 0, nil, nil),
                                "IXFR query SOA")
            // ldns_pkt_ixfr_request_new takes the SOA and the name into the packet it returns.
            guard let made = ldns_pkt_ixfr_request_new(name, LDNS_RR_CLASS_IN, 0, soa) else {
                throw LdnsError(status: LDNS_STATUS_MEM_ERR, context: "IXFR query")
            }
            packet = LdnsPacket(adopting: made)
        } else {
            guard let made = ldns_pkt_query_new(name, ldns_rr_type(rawValue: UInt32(kind.rawValue)), LDNS_RR_CLASS_IN, 0)
            else { throw LdnsError(status: LDNS_STATUS_MEM_ERR, context: "transfer query") }
            packet = LdnsPacket(adopting: made)
        }
        ldns_pkt_set_id(packet.pointer, id)
        var mac: [UInt8]? = nil
        if let key {
            try LdnsError.check(ldns_pkt_tsig_sign(packet.pointer, key.name, key.secret, 300, key.algorithm, nil),
                                "cannot sign the query with TSIG key \(key.name)")
            mac = tsigMAC(packet)
        }
        return Request(id: id, wire: try packet.wire(), mac: mac)
    }

    /// The MAC of a packet's TSIG record (its fourth field), nil when it has none.
    private static func tsigMAC(_ packet: LdnsPacket) -> [UInt8]? {
        guard let tsig = ldns_pkt_tsig(packet.pointer), let mac = ldns_rr_rdf(tsig, 3), let data = ldns_rdf_data(mac)
        else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: ldns_rdf_size(mac)))
    }

    /// What one reply of a transfer says.
    struct Reply {
        let rcode: UInt8
        let records: [TransferRecord]
        /// The MAC of this reply's TSIG, which the next reply's covers (nil when unsigned).
        let mac: [UInt8]?
    }

    struct ReplyError: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads one reply to `request`: the ID must match and, with `key`, the TSIG must verify
    /// against `previousMAC` (the query's MAC for the first reply, then the previous reply's).
    static func reply(_ wire: [UInt8], to request: Request, key: Key?, previousMAC: [UInt8]?,
                      first: Bool) throws(ReplyError) -> Reply {
        let packet: LdnsPacket
        do {
            packet = try wire.withUnsafeBytes { bytes throws(LdnsError) in try LdnsPacket(wire: bytes) }
        } catch {
            throw ReplyError(description: "\(error)")
        }
        guard ldns_pkt_id(packet.pointer) == request.id else {
            throw ReplyError(description: "reply ID \(ldns_pkt_id(packet.pointer)) is not the query's \(request.id)")
        }
        guard ldns_pkt_qr(packet.pointer) != 0 else { throw ReplyError(description: "not a reply (QR clear)") }
        var mac: [UInt8]? = nil
        if let key {
            guard ldns_pkt_tsig(packet.pointer) != nil else {
                throw ReplyError(description: "reply is not signed, but TSIG key \(key.name) is configured")
            }
            let verified = withRDF(previousMAC) { previous in
                wire.withUnsafeBufferPointer { bytes in
                    // The first reply covers the query's MAC with all TSIG variables; later ones
                    // of a transfer only the timers (RFC 8945 5.3.1).
                    ldns_pkt_tsig_verify_next(packet.pointer, bytes.baseAddress, bytes.count, key.name, key.secret,
                                              previous, first ? 0 : 1)
                }
            }
            if verified == 0 { throw ReplyError(description: "TSIG signature does not verify with key \(key.name)") }
            mac = tsigMAC(packet)
        } else if ldns_pkt_tsig(packet.pointer) != nil, ldns_pkt_get_rcode(packet.pointer) == LDNS_RCODE_NOTAUTH {
            throw ReplyError(description: "the primary wants a TSIG key (NOTAUTH)")
        }
        let rcode = UInt8(ldns_pkt_get_rcode(packet.pointer).rawValue)
        var records: [TransferRecord] = []
        if let answer = ldns_pkt_answer(packet.pointer) {
            let count = ldns_rr_list_rr_count(answer)
            records.reserveCapacity(count)
            for index in 0..<count {
                guard let rr = ldns_rr_list_rr(answer, index) else { continue }
                records.append(record(rr))
            }
        }
        return Reply(rcode: rcode, records: records, mac: mac)
    }

    /// A record as text: canonical (owner in lower case), then the same with TTL 0 as its key.
    private static func record(_ rr: UnsafeMutablePointer<ldns_rr>) -> TransferRecord {
        ldns_rr2canonical(rr)
        let line = text(rr)
        let ttl = ldns_rr_ttl(rr)
        ldns_rr_set_ttl(rr, 0)
        let key = text(rr)
        ldns_rr_set_ttl(rr, ttl)
        var serial: UInt32? = nil
        var refresh: UInt32? = nil
        var retry: UInt32? = nil
        if ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA {
            serial = ldns_rr_rdf(rr, 2).map { ldns_rdf2native_int32($0) }
            refresh = ldns_rr_rdf(rr, 3).map { ldns_rdf2native_int32($0) }
            retry = ldns_rr_rdf(rr, 4).map { ldns_rdf2native_int32($0) }
        }
        return TransferRecord(line: line, key: key, soaSerial: serial, soaRefresh: refresh, soaRetry: retry)
    }

    /// ldns's zone-file line of a record, without its line end.
    private static func text(_ rr: UnsafeMutablePointer<ldns_rr>) -> String {
        guard let chars = ldns_rr2str(rr) else { return "" }
        defer { free(chars) }  // ldns_rr2str allocates with malloc
        var line = String(cString: chars)
        while line.hasSuffix("\n") { line.removeLast() }
        return line
    }

    /// Reads one zone-file line into a `TransferRecord` (the copy at a list's path), or nil when
    /// it is not a record (a comment, a directive, a bad line).
    static func record(line: String) -> TransferRecord? {
        var rr: UnsafeMutablePointer<ldns_rr>? = nil
        guard ldns_rr_new_frm_str(&rr, line, 3600, nil, nil) == LDNS_STATUS_OK, let rr else { return nil }
        defer { ldns_rr_free(rr) }
        return record(rr)
    }

    /// Calls `body` with `bytes` as an ldns rdf (or nil), freed after.
    private static func withRDF<R>(_ bytes: [UInt8]?, _ body: (UnsafeMutablePointer<ldns_rdf>?) -> R) -> R {
        guard let bytes else { return body(nil) }
        let rdf = bytes.withUnsafeBufferPointer { ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, $0.count, $0.baseAddress) }
        defer { if let rdf { ldns_rdf_deep_free(rdf) } }
        return body(rdf)
    }

    /// What a NOTIFY says: its ID, the zone it names (lower-case wire form) and whether it is signed.
    struct Notify {
        let zone: [UInt8]
        let signed: Bool
    }

    /// Reads a NOTIFY message; nil when it is not one ldns can read with one question.
    static func notify(_ bytes: UnsafeRawBufferPointer) -> Notify? {
        guard let packet = try? LdnsPacket(wire: bytes), let question = packet.question,
              let owner = ldns_rr_owner(question), let data = ldns_rdf_data(owner)
        else { return nil }
        let zone = UnsafeBufferPointer(start: data, count: ldns_rdf_size(owner)).map { byte in
            (byte >= 65 && byte <= 90) ? byte + 32 : byte
        }
        return Notify(zone: zone, signed: ldns_pkt_tsig(packet.pointer) != nil)
    }

    /// Whether the NOTIFY in `bytes` carries a TSIG that verifies with `key`.
    static func notifyVerifies(_ bytes: UnsafeRawBufferPointer, key: Key) -> Bool {
        guard let packet = try? LdnsPacket(wire: bytes), ldns_pkt_tsig(packet.pointer) != nil,
              let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return false }
        return ldns_pkt_tsig_verify(packet.pointer, base, bytes.count, key.name, key.secret, nil) != 0
    }

    /// The answer to a NOTIFY: the message with QR and AA set and `rcode`, its question kept
    /// (RFC 1996 4.7), signed with `key` when the NOTIFY was signed with it.
    static func notifyAnswer(_ bytes: UnsafeRawBufferPointer, rcode: UInt8, key: Key?) -> [UInt8]? {
        guard let query = try? LdnsPacket(wire: bytes), let reply = try? LdnsPacket() else { return nil }
        ldns_pkt_set_id(reply.pointer, ldns_pkt_id(query.pointer))
        ldns_pkt_set_qr(reply.pointer, 1)
        ldns_pkt_set_aa(reply.pointer, rcode == 0 ? 1 : 0)
        ldns_pkt_set_opcode(reply.pointer, LDNS_PACKET_NOTIFY)
        ldns_pkt_set_rcode(reply.pointer, rcode)
        if let question = query.question, let copy = ldns_rr_clone(question) {
            _ = ldns_pkt_push_rr(reply.pointer, LDNS_SECTION_QUESTION, copy)  // the packet owns the copy now
        }
        if let key, let queryMAC = tsigMAC(query) {
            let signed = withRDF(queryMAC) { mac in
                ldns_pkt_tsig_sign(reply.pointer, key.name, key.secret, 300, key.algorithm, mac)
            }
            if signed != LDNS_STATUS_OK { return nil }
        }
        return try? reply.wire()
    }
}

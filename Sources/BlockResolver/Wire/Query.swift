import ResolverConfig

/// A client's query as the rest of the server sees it: plain Swift values read off the ldns
/// packet. `name` points into the ldns packet and is valid only inside the `QueryParser.parse`
/// call that produced it; copy it (`Question`) to keep it longer.
struct Query {
    let id: UInt16
    /// Recursion desired, copied into every answer.
    let recursionDesired: Bool
    let checkingDisabled: Bool
    /// The question name in wire form as the client wrote it (case preserved, uncompressed).
    let name: UnsafeBufferPointer<UInt8>
    let type: UInt16
    let `class`: UInt16
    /// The client's EDNS, when the query had an OPT record.
    let edns: EDNS?

    struct EDNS {
        let udpSize: UInt16
        let dnssecOK: Bool
        /// EDNS version; only 0 exists, anything higher is answered BADVERS (RFC 6891 6.1.3).
        let version: UInt8
    }

    /// The DO bit, echoed in the OPT of every answer to an EDNS client (RFC 3225).
    var dnssecOK: Bool { edns?.dnssecOK ?? false }

    /// The flags of every reply to this query (QR, RA, RD and CD as asked).
    var replyFlags: UInt16 {
        DNSHeader.replyFlags(recursionDesired: recursionDesired, checkingDisabled: checkingDisabled)
    }

    /// The largest answer this client takes over `transport`: over UDP its EDNS size (at least
    /// 512) capped by the resolver's `edns_udp_size`, or 512 without EDNS (RFC 1035, RFC 6891);
    /// over TCP a whole message. The one place this limit is computed.
    func sizeLimit(_ transport: Transport, ednsUDPSize: Int) -> Int {
        guard transport.isDatagram else { return Int(UInt16.max) }
        guard let edns else { return 512 }
        return min(max(512, Int(edns.udpSize)), max(512, ednsUDPSize))
    }

    /// The question name in lower case into `body`'s storage, without a heap allocation.
    func withLowercasedName<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: name.count) { lower in
            for index in 0..<name.count { lower[index] = DomainName.lowercase(name[index]) }
            return body(UnsafeBufferPointer(lower))
        }
    }
}

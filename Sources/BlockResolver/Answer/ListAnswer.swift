import ResolverConfig

/// The wire pieces a blocked name is answered with for one list, made by ldns once per policy
/// (DESIGN.md: ldns writing a whole packet costs about as much as the whole per-query budget),
/// so that a query only copies bytes. A class: a blocked query takes one reference, not a copy of
/// every field.
final class ListAnswer: Sendable {
    /// `A` record for the sinkhole address; owner is a pointer to the question name.
    let a: [UInt8]
    /// `AAAA` record for the sinkhole address; owner is a pointer to the question name.
    let aaaa: [UInt8]
    /// `CNAME` to the landing host (`sinkhole.cname`), owner a pointer to the question name; the
    /// `a`/`aaaa` records then follow it, their owner pointer patched to the CNAME's target.
    let cname: [UInt8]?
    /// `SOA` for the authority section of NXDOMAIN/NODATA answers; the owner pointer is patched per
    /// query to the matched suffix of the question name (the listed name acts as the zone apex).
    let soa: [UInt8]
    /// `soa` without its two-byte owner pointer, which is written per query.
    let soaAfterOwner: [UInt8]
    /// OPT record for EDNS clients: with the list's Extended DNS Error (code and category), or
    /// plain when the list says `ede: none`.
    let opt: [UInt8]
    let response: BlockResponse
    /// RPZ local data by rule index (nil for rules that are not local data).
    let localData: [LocalAnswer?]

    static let udpSize: UInt16 = 1232

    init(list: ListSettings, rules: [EntryRule]) throws(LdnsError) {
        let sinkhole = list.sinkhole
        let ttl = sinkhole.ttl
        a = try LdnsRecord.template(". \(ttl) IN A \(sinkhole.ipv4)")
        aaaa = try LdnsRecord.template(". \(ttl) IN AAAA \(sinkhole.ipv6)")
        cname = try sinkhole.cname.map { target throws(LdnsError) in try LdnsRecord.template(". \(ttl) IN CNAME \(target)") }
        // Negative answers are cached for min(SOA TTL, MINIMUM) (RFC 2308): both are the sinkhole TTL.
        soa = try LdnsRecord.template(
            ". \(ttl) IN SOA block-resolver.invalid. hostmaster.block-resolver.invalid. 1 3600 600 86400 \(ttl)"
        )
        soaAfterOwner = Array(soa.dropFirst(2))
        opt = try LdnsRecord.opt(udpSize: Self.udpSize, ede: list.ede.map { (code: $0, text: list.edeText) })
        response = list.response
        localData = rules.map { rule in
            guard case .localData(let records) = rule.action else { return nil }
            return LocalAnswer(records: records)
        }
    }
}

/// RPZ local data of one rule as answer templates (owner: a pointer to the question name).
struct LocalAnswer: Sendable {
    let records: [(type: UInt16, template: [UInt8])]

    init(records: [LocalRecord]) {
        // The parser stored each record with a one-byte root owner; swap it for the pointer.
        self.records = records.map { ($0.type, [0xC0, 0x0C] + $0.wireWithRootOwner.dropFirst()) }
    }

    /// The records that answer `type`: those of that type, else any CNAME (RPZ draft 4.2).
    func answering(_ type: UInt16) -> [[UInt8]] {
        let exact = records.filter { $0.type == type }.map(\.template)
        return exact.isEmpty ? records.filter { $0.type == 5 }.map(\.template) : exact
    }
}

/// Answer pieces shared by every list: the OPT records of answers that are not blocks.
struct CommonAnswers: Sendable {
    /// OPT without options, for replies the server makes itself (truncation, overload).
    let plainOPT: [UInt8]
    /// OPT with EDE 22 (No Reachable Authority), for SERVFAIL when no upstream answered.
    let unreachableOPT: [UInt8]
    /// OPT with EDE 18 (Prohibited), for REFUSED to a client outside `access.allow`.
    let prohibitedOPT: [UInt8]
    /// OPT with EDE 3 (Stale Answer), for answers served stale (RFC 8767).
    let staleOPT: [UInt8]
    /// RFC 8482 answer to ANY: a synthesized HINFO "RFC8482" owned by the question name.
    let anyHINFO: [UInt8]

    init() throws(LdnsError) {
        plainOPT = try LdnsRecord.opt(udpSize: ListAnswer.udpSize, ede: nil)
        unreachableOPT = try LdnsRecord.opt(udpSize: ListAnswer.udpSize, ede: (code: 22, text: "no upstream answered"))
        prohibitedOPT = try LdnsRecord.opt(udpSize: ListAnswer.udpSize, ede: (code: 18, text: "not an allowed client"))
        staleOPT = try LdnsRecord.opt(udpSize: ListAnswer.udpSize, ede: (code: 3, text: ""))
        anyHINFO = try LdnsRecord.template(". 3600 IN HINFO \"RFC8482\" \"\"")
    }
}

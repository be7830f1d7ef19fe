/// Answer pieces shared by every list, made by ldns once per policy: the OPT records of the
/// answers that are not blocks, each advertising the resolver's `edns_udp_size`.
struct CommonAnswers: Sendable {
    /// OPT without options: forwarded and cached answers, truncation, ANY.
    let plainOPT: OPTTemplate
    /// OPT with EDE 22 (No Reachable Authority), for SERVFAIL when no upstream answered.
    let unreachableOPT: OPTTemplate
    /// OPT with EDE 18 (Prohibited), for REFUSED to a client outside `access.allow`.
    let prohibitedOPT: OPTTemplate
    /// OPT with EDE 3 (Stale Answer), for answers served stale (RFC 8767, RFC 8914).
    let staleOPT: OPTTemplate
    /// OPT of a BADVERS answer (RFC 6891 6.1.3): version 0, the one this resolver speaks.
    let badVersionOPT: OPTTemplate
    /// RFC 8482 answer to ANY: a synthesized HINFO "RFC8482" owned by the question name.
    let anyHINFO: [UInt8]

    init(udpSize: UInt16) throws(LdnsError) {
        plainOPT = OPTTemplate(try LdnsRecord.opt(udpSize: udpSize, ede: nil))
        unreachableOPT = OPTTemplate(try LdnsRecord.opt(udpSize: udpSize, ede: (code: 22, text: "no upstream answered")))
        prohibitedOPT = OPTTemplate(try LdnsRecord.opt(udpSize: udpSize, ede: (code: 18, text: "not an allowed client")))
        staleOPT = OPTTemplate(try LdnsRecord.opt(udpSize: udpSize, ede: (code: 3, text: "")))
        badVersionOPT = OPTTemplate(try LdnsRecord.opt(udpSize: udpSize, ede: nil,
                                                       extendedRcode: DNSHeader.extendedRcodeBADVERS))
        anyHINFO = try LdnsRecord.template(". 3600 IN HINFO \"RFC8482\" \"\"")
    }
}

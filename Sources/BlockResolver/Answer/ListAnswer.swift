import ResolverConfig

/// The wire pieces a blocked name is answered with for one list, made by ldns once per policy
/// snapshot so that a query only copies bytes (DESIGN.md: ldns writing a whole packet costs about
/// as much as the whole per-query budget).
struct ListAnswer: Sendable {
    /// `A` record for the sinkhole address; owner is a pointer to the question name.
    let a: [UInt8]
    /// `AAAA` record for the sinkhole address; owner is a pointer to the question name.
    let aaaa: [UInt8]
    /// `SOA` for the authority section of NODATA answers; the owner pointer is patched per query
    /// to the matched suffix of the question name (the listed name acts as the zone apex).
    let soa: [UInt8]
    /// OPT record with an Extended DNS Error (16, Censored) whose extra text is the category.
    let opt: [UInt8]

    static let udpSize: UInt16 = 1232

    init(sinkhole: ResolverSettings.Sinkhole, category: String) throws(LdnsError) {
        let ttl = sinkhole.ttl
        a = try LdnsRecord.template(". \(ttl) IN A \(sinkhole.ipv4)")
        aaaa = try LdnsRecord.template(". \(ttl) IN AAAA \(sinkhole.ipv6)")
        // Negative answers are cached for min(SOA TTL, MINIMUM) (RFC 2308): both are the sinkhole TTL.
        soa = try LdnsRecord.template(
            ". \(ttl) IN SOA block-resolver.invalid. hostmaster.block-resolver.invalid. 1 3600 600 86400 \(ttl)"
        )
        opt = try LdnsRecord.opt(udpSize: Self.udpSize, ede: (code: 16, text: category))
    }
}

/// Answer pieces shared by every list: the OPT records of non-blocked answers.
struct CommonAnswers: Sendable {
    /// OPT without options, for FORMERR-free replies the server makes itself (truncation).
    let plainOPT: [UInt8]
    /// OPT with EDE 22 (No Reachable Authority), for SERVFAIL when no upstream answered.
    let unreachableOPT: [UInt8]

    init() throws(LdnsError) {
        plainOPT = try LdnsRecord.opt(udpSize: ListAnswer.udpSize, ede: nil)
        unreachableOPT = try LdnsRecord.opt(udpSize: ListAnswer.udpSize, ede: (code: 22, text: "no upstream answered"))
    }
}

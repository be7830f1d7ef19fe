import NIOCore
import ResolverConfig

/// The wire pieces a blocked name is answered with for one list, made by ldns once per policy
/// (ldns writing a whole packet costs about as much as the whole per-query budget:
/// docs/ARCHITECTURE.md, "Hot path"),
/// so that a query only copies bytes (`MessageWriter`). A class: a blocked query takes one
/// reference, not a copy of every field.
final class ListAnswer: Sendable {
    /// What a blocked query is answered with.
    enum Kind {
        /// A/AAAA with the sinkhole (or CNAME to the landing host), NODATA for other types.
        case sinkhole
        case nxdomain
        case nodata
        case refused
        /// RPZ local data.
        case local(LocalAnswer)
    }

    /// `A` record for the sinkhole address; owner is a pointer to the question name.
    let a: [UInt8]
    /// `AAAA` record for the sinkhole address; owner is a pointer to the question name.
    let aaaa: [UInt8]
    /// `CNAME` to the landing host (`sinkhole.cname`), owner a pointer to the question name; the
    /// `a`/`aaaa` records then follow it, their owner pointer aimed at the CNAME's target.
    let cname: [UInt8]?
    /// `SOA` for the authority section of NXDOMAIN/NODATA answers, without its two-byte owner,
    /// which is written per query: a pointer to the matched suffix of the question name (the
    /// listed name acts as the zone apex).
    let soaAfterOwner: [UInt8]
    /// OPT record for EDNS clients: with the list's Extended DNS Error (code and category), or
    /// plain when the list says `ede: none`.
    let opt: OPTTemplate
    let response: BlockResponse
    /// RPZ local data by rule index (nil for rules that are not local data).
    let localData: [LocalAnswer?]
    /// The landing host (`sinkhole.cname`) when its address is asked of the upstreams
    /// (`Sinkhole.resolvesCNAME`): followed like an RPZ policy CNAME.
    let resolvedLanding: LocalAnswer.PolicyCNAME?
    /// The list's Extended DNS Error (nil for `ede: none`), for answers that name what matched.
    let ede: (code: UInt16, text: String)?
    let udpSize: UInt16

    init(list: ListSettings, rules: [EntryRule], udpSize: UInt16) throws(LdnsError) {
        let sinkhole = list.sinkhole
        let ttl = sinkhole.ttl
        a = try LdnsRecord.template(". \(ttl) IN A \(sinkhole.ipv4)")
        aaaa = try LdnsRecord.template(". \(ttl) IN AAAA \(sinkhole.ipv6)")
        cname = try sinkhole.cname.map { target throws(LdnsError) in try LdnsRecord.template(". \(ttl) IN CNAME \(target)") }
        // The template is the CNAME record with a two-byte owner pointer: its data is the target.
        resolvedLanding = sinkhole.resolvesCNAME ? cname.map { record in
            LocalAnswer.PolicyCNAME(ttl: ttl, target: record.dropFirst(12).map(DomainName.lowercase))
        } : nil
        // Negative answers are cached for min(SOA TTL, MINIMUM) (RFC 2308): both are the sinkhole TTL.
        let soa = try LdnsRecord.template(Self.soaLine(owner: ".", ttl: ttl))
        soaAfterOwner = Array(soa.dropFirst(2))
        ede = list.ede.map { (code: $0, text: list.edeText) }
        self.udpSize = udpSize
        opt = OPTTemplate(try LdnsRecord.opt(udpSize: udpSize, ede: ede))
        response = list.response
        localData = rules.map { rule in
            guard case .localData(let records) = rule.action else { return nil }
            return LocalAnswer(records: records)
        }
    }

    /// The SOA of every negative answer the resolver writes, owned by `owner` (presentation
    /// form): negative answers are cached for min(SOA TTL, MINIMUM) (RFC 2308), both the TTL.
    static func soaLine(owner: String, ttl: UInt32) -> String {
        "\(owner) \(ttl) IN SOA block-resolver.invalid. hostmaster.block-resolver.invalid. 1 3600 600 86400 \(ttl)"
    }

    /// The OPT record of an answer the response policy decided: the list's Extended DNS Error
    /// with what matched in the answer (`cname www.example.com.`, `ip 192.0.2.1`) after the
    /// category. Made by ldns per such answer, which is rare next to the answers it leaves alone.
    func opt(naming matched: String) -> OPTTemplate {
        guard let ede, let record = try? LdnsRecord.opt(udpSize: udpSize, ede: (ede.code, "\(ede.text); \(matched)"))
        else { return opt }
        return OPTTemplate(record)
    }

    /// Writes the answer of `kind` to `query`, whose listed suffix starts `suffixOffset` bytes
    /// into the question name; `opt` replaces the list's own OPT record when given.
    func write(_ query: Query, _ kind: Kind, suffixOffset: Int, opt: OPTTemplate? = nil, into buffer: inout ByteBuffer) {
        let isIN = query.class == RecordType.classIN
        var rcode = DNSHeader.rcodeNOERROR
        var records = MessageWriter.Records.none
        var withSOA = false
        switch kind {
        case .sinkhole:
            let address = !isIN ? nil : query.type == RecordType.a ? a : query.type == RecordType.aaaa ? aaaa : nil
            if let cname {
                records = .cname(cname, address: address)
            } else if let address {
                records = .one(address)
            } else {
                withSOA = true
            }
        case .nxdomain:
            rcode = DNSHeader.rcodeNXDOMAIN
            withSOA = true
        case .nodata:
            withSOA = true
        case .refused:
            rcode = DNSHeader.rcodeREFUSED
        case .local(let data):
            let answering = data.answering(query.type)
            records = .many(answering)
            withSOA = answering.isEmpty
        }
        MessageWriter.writeBlocked(query, rcode: rcode, records: records, soaAfterOwner: withSOA ? soaAfterOwner : nil,
                                   suffixOffset: suffixOffset, opt: opt ?? self.opt, into: &buffer)
    }
}

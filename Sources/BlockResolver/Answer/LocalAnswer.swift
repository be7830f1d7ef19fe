import ResolverConfig

/// RPZ local data of one rule as answer templates (owner: a pointer to the question name).
struct LocalAnswer: Sendable {
    let records: [(type: UInt16, template: [UInt8])]
    /// The same records as zone-file text without the owner ("TTL CLASS TYPE DATA").
    let texts: [(type: UInt16, text: String)]
    /// The rule's CNAME, when it has one: the answer for any other type is that CNAME followed
    /// to its target's own answer (RPZ draft 4.2; BIND and PowerDNS do the same).
    let cname: PolicyCNAME?

    /// A policy CNAME: its TTL and target (lower-case wire form); a target whose first label is
    /// `*` (`CNAME *.garden.example.`) stands for the matched name put in front of the rest.
    struct PolicyCNAME: Sendable {
        let ttl: UInt32
        let target: [UInt8]

        var isWildcard: Bool { target.count > 2 && target[0] == 1 && target[1] == UInt8(ascii: "*") }

        /// The target for `owner` (lower-case wire form): `*` expanded; nil when the result would
        /// be longer than a name may be.
        func target(for owner: [UInt8]) -> [UInt8]? {
            guard isWildcard else { return target }
            let expanded = owner.dropLast() + target.dropFirst(2)
            return expanded.count <= 255 ? Array(expanded) : nil
        }

        /// The record as a zone-file line owned by `owner`, pointing at `target`.
        static func line(owner: [UInt8], ttl: UInt32, target: [UInt8]) -> String {
            "\(DomainName.presentation(ofWire: owner)) \(ttl) IN CNAME \(DomainName.presentation(ofWire: target))"
        }
    }

    init(records: [LocalRecord]) {
        // The parser stored each record with a one-byte root owner; swap it for the pointer.
        self.records = records.map { ($0.type, [0xC0, 0x0C] + $0.wireWithRootOwner.dropFirst()) }
        texts = records.map { ($0.type, $0.text) }
        // Root owner (1), type (2), class (2), TTL (4), data length (2), then the target's name.
        cname = records.first { $0.type == RecordType.cname && $0.wireWithRootOwner.count > 11 }.map { record in
            let wire = record.wireWithRootOwner
            let ttl = UInt32(wire[5]) << 24 | UInt32(wire[6]) << 16 | UInt32(wire[7]) << 8 | UInt32(wire[8])
            return PolicyCNAME(ttl: ttl, target: wire[11...].map(DomainName.lowercase))
        }
    }

    /// The records that answer `type`: those of that type, else any CNAME (RPZ draft 4.2).
    func answering(_ type: UInt16) -> [[UInt8]] {
        let exact = records.filter { $0.type == type }.map(\.template)
        return exact.isEmpty ? records.filter { $0.type == RecordType.cname }.map(\.template) : exact
    }

    /// The CNAME a query of `type` is answered with when it is not the rule's template answer:
    /// followed (no records of the query's own type), or written with `*` expanded.
    func policyCNAME(for type: UInt16) -> PolicyCNAME? {
        guard let cname else { return nil }
        if type == RecordType.cname { return cname.isWildcard ? cname : nil }
        return records.contains { $0.type == type } ? nil : cname
    }

    /// Records of `type` as zone-file lines owned by `owner` (for answers the response policy
    /// rewrites, where the owner is a name of the chain rather than the question).
    func lines(_ type: UInt16, owner: [UInt8]) -> [String] {
        let ownerText = DomainName.presentation(ofWire: owner)
        return texts.filter { $0.type == type }.map { "\(ownerText) \($0.text)" }
    }
}

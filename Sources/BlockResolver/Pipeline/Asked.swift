import ResolverConfig

/// What an answer written for a client needs of its query once the parsed packet is gone: its
/// ID and flags, the question as the client wrote it, and its EDNS.
struct Asked {
    let id: UInt16
    /// The reply flags (QR, RA, RD and CD as asked).
    let flags: UInt16
    let question: Question
    let hasEDNS: Bool
    let dnssecOK: Bool

    init(_ query: Query) {
        id = query.id
        flags = query.replyFlags
        question = Question(query)
        hasEDNS = query.edns != nil
        dnssecOK = query.dnssecOK
    }

    /// The query again, for the writers that take one (`Verdict`, `MessageWriter`).
    func withQuery<R>(_ body: (Query) -> R) -> R {
        question.name.withUnsafeBufferPointer { name in
            body(Query(id: id, recursionDesired: flags & DNSHeader.flagRD != 0,
                       checkingDisabled: flags & DNSHeader.flagCD != 0, name: name, type: question.type,
                       class: question.class,
                       edns: hasEDNS ? Query.EDNS(udpSize: 512, dnssecOK: dnssecOK, version: 0) : nil))
        }
    }
}

import ResolverConfig

/// Which entry decided a query, for the query log and the metrics: the list, the kind of trigger,
/// and what matched. Made only for queries a list answered (blocked, dropped), never per query.
struct Decider {
    let list: Int
    let trigger: PolicyMatch.Trigger
    /// For a `qname` match: where the listed suffix starts in the question name.
    let suffixOffset: Int
    /// For a `cname` match the chain's name (lower-case wire form), for an `ip` match the
    /// address (4 or 16 bytes); nil for `qname` (the question name holds it) and `client`.
    let matched: [UInt8]?

    init(_ match: PolicyMatch, matched: [UInt8]? = nil) {
        list = match.listIndex
        trigger = match.trigger
        suffixOffset = match.suffixOffset
        self.matched = matched
    }

    /// What matched, as the query log writes it: the listed name, a name of the answer's chain,
    /// an address of the answer, or the client's address (`clientText`).
    func matchedText(question: [UInt8], clientText: String) -> String {
        switch trigger {
        case .qname:
            return DomainName.presentation(ofWire: question[min(suffixOffset, question.count - 1)...]).lowercased()
        case .cname:
            return matched.map { DomainName.presentation(ofWire: $0) } ?? "."
        case .ip:
            return matched.map(CIDR.addressText) ?? "-"
        case .client:
            return clientText
        }
    }
}

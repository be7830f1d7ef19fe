/// Which address of a query an address entry is matched against. The two are kept apart because
/// they are judged at different moments: the client's address before anything is forwarded, the
/// answer's addresses only once the upstream has replied.
public enum AddressTrigger: UInt8, Sendable, Hashable {
    /// An A or AAAA record of the answer falls in the prefix: RPZ `rpz-ip`, `ips` lists.
    case answer
    /// The query's source address falls in the prefix: RPZ `rpz-client-ip`.
    case client
}

/// One address entry of a list: a prefix (its network bytes masked to the prefix length), what it
/// is matched against, and the rule it applies.
///
/// Kept apart from the name arena of `ParsedList`, in file order, so that a list of names pays
/// nothing for addresses. The rule index is the entry's own (unlike names, which share one rule
/// until some entry differs), because address entries are few next to the names of a big list.
public struct AddressEntry: Sendable, Hashable {
    public let cidr: CIDR
    public let trigger: AddressTrigger
    /// Index into the list's `rules`.
    public let rule: UInt32
    /// The file line of the entry (for RPZ, the line of the owner's first record).
    public let line: UInt32

    public init(cidr: CIDR, trigger: AddressTrigger, rule: UInt32, line: UInt32) {
        self.cidr = cidr
        self.trigger = trigger
        self.rule = rule
        self.line = line
    }

    /// This entry with another rule, for when a later record group of the same RPZ owner adds to
    /// its local data.
    func with(rule: UInt32) -> AddressEntry {
        AddressEntry(cidr: cidr, trigger: trigger, rule: rule, line: line)
    }
}

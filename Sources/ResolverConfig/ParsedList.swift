/// The entries of one list file, parsed and validated, in a compact form.
///
/// Names are kept back to back in wire form in one byte array (`arena`), because a list can hold
/// millions of names and a `[String]` would cost ten times the memory. Address entries (`ips`
/// lists, RPZ `rpz-ip` and `rpz-client-ip` triggers) are kept apart in `addresses`, so a list of
/// names pays for them only the one empty array. The value is immutable, so a reload that finds
/// the file unchanged can hand the same instance to the next policy.
public final class ParsedList: Sendable {
    /// Wire-form, lower-case names, concatenated; each is self-delimiting (ends in a zero byte).
    public let arena: [UInt8]
    /// Number of names in `arena` (duplicates included); address entries are `addressCount`.
    public let count: Int
    /// The distinct rules of this list, of names and addresses alike; domain, hosts and ips lists
    /// have just `EntryRule.wholeSubtree`.
    public let rules: [EntryRule]
    /// The rule of each name, by entry index; empty when every name has rule 0.
    public let entryRules: [UInt32]
    /// The file line of each name, by entry index; only filled when parsed for a report.
    public let lines: [UInt32]
    /// The address entries, in file order; each carries its rule and line.
    public let addresses: [AddressEntry]
    /// The first `ParsedList.problemLimit` problems, in file order.
    public let problems: [ListProblem]
    /// All problems, including those past the limit.
    public let problemCount: Int
    /// Lines that held a name but were skipped silently (`localhost` in a hosts file).
    public let ignoredCount: Int
    /// RPZ triggers this resolver does not implement, by kind (`rpz-ip`, `rpz-nsdname`, …).
    public let unsupportedTriggers: [String: Int]

    /// True when the file declared itself a whole zone (an RPZ zone with its SOA): such a zone
    /// with no triggers is a policy that blocks nothing, not a broken download
    /// (`PolicyLoader.fault`), as BIND and PowerDNS load an emptied policy zone.
    public let isWholeZone: Bool

    /// How many problems are kept with their text; the rest are only counted.
    public static let problemLimit = 10_000

    init(arena: [UInt8], count: Int, rules: [EntryRule] = [.wholeSubtree], entryRules: [UInt32] = [],
         lines: [UInt32] = [], addresses: [AddressEntry] = [], problems: [ListProblem], problemCount: Int,
         ignoredCount: Int = 0, unsupportedTriggers: [String: Int] = [:], isWholeZone: Bool = false) {
        self.isWholeZone = isWholeZone
        self.arena = arena
        self.count = count
        self.rules = rules
        self.entryRules = entryRules
        self.lines = lines
        self.addresses = addresses
        self.problems = problems
        self.problemCount = problemCount
        self.ignoredCount = ignoredCount
        self.unsupportedTriggers = unsupportedTriggers
    }

    /// Every entry this list serves, whatever its kind: what the fail-closed rules of a load
    /// count (`PolicyLoader.fault`). The one place to add entries of another kind to.
    public var entryTotal: Int { count + addressCount }

    /// The rule index of entry `index`.
    @inline(__always)
    public func ruleIndex(ofEntry index: Int) -> Int {
        entryRules.isEmpty ? 0 : Int(entryRules[index])
    }

    /// Calls `body` with the index and byte range of each name in `arena`, in file order.
    public func forEachName(_ body: (Int, Range<Int>) throws -> Void) rethrows {
        try arena.withUnsafeBufferPointer { arena in
            var start = 0
            var index = 0
            while start < arena.count {
                var end = start
                while arena[end] != 0 { end += Int(arena[end]) + 1 }
                try body(index, start..<(end + 1))
                start = end + 1
                index += 1
            }
        }
    }

    /// Number of address entries (duplicates included).
    public var addressCount: Int { addresses.count }

    /// Entry counts by kind, for `check`: "name and below" for plain lists; trigger and action
    /// kinds for RPZ zones ("exact nxdomain", "rpz-ip local-data", "rpz-client-ip drop");
    /// "address list action" for the entries of an `ips` list, which take the list's action.
    public var countsByKind: [(kind: String, count: Int)] {
        var kinds: [String: Int] = [:]
        if entryRules.isEmpty {
            if count > 0 || addresses.isEmpty { kinds["name and below"] = count }
        } else {
            var byRule = [Int](repeating: 0, count: rules.count)
            for rule in entryRules { byRule[Int(rule)] += 1 }
            for (index, rule) in rules.enumerated() where byRule[index] > 0 {
                let trigger = rule.scope == .belowOnly ? "wildcard" : "exact"
                kinds["\(trigger) \(rule.actionName)", default: 0] += byRule[index]
            }
        }
        // Counted per (trigger, rule) first: one string per kind, not one per address.
        var byTriggerAndRule: [AddressKind: Int] = [:]
        for entry in addresses {
            byTriggerAndRule[AddressKind(trigger: entry.trigger, rule: entry.rule), default: 0] += 1
        }
        for (key, number) in byTriggerAndRule {
            let rule = rules[Int(key.rule)]
            kinds["\(Self.kindName(key.trigger, rule)) \(rule.actionName)", default: 0] += number
        }
        return kinds.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    private struct AddressKind: Hashable {
        let trigger: AddressTrigger
        let rule: UInt32
    }

    /// The trigger word of an address entry's kind: the RPZ trigger for a rule of its own,
    /// "address" (or "client address") for one that takes the list's action, as `ips` entries do.
    private static func kindName(_ trigger: AddressTrigger, _ rule: EntryRule) -> String {
        switch (trigger, rule.action) {
        case (.answer, .list): return "address"
        case (.client, .list): return "client address"
        case (.answer, _): return "rpz-ip"
        case (.client, _): return "rpz-client-ip"
        }
    }
}

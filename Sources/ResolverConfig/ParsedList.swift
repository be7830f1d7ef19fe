/// The entries of one list file, parsed and validated, in a compact form.
///
/// Names are kept back to back in wire form in one byte array (`arena`), because a list can hold
/// millions of names and a `[String]` would cost ten times the memory. The value is immutable,
/// so a reload that finds the file unchanged can hand the same instance to the next policy.
public final class ParsedList: Sendable {
    /// Wire-form, lower-case names, concatenated; each is self-delimiting (ends in a zero byte).
    public let arena: [UInt8]
    /// Number of names in `arena` (duplicates included).
    public let count: Int
    /// The distinct rules of this list; domain and hosts lists have just `EntryRule.wholeSubtree`.
    public let rules: [EntryRule]
    /// The rule of each entry, by entry index; empty when every entry has rule 0.
    public let entryRules: [UInt32]
    /// The file line of each entry, by entry index; only filled when parsed for a report.
    public let lines: [UInt32]
    /// The first `ParsedList.problemLimit` problems, in file order.
    public let problems: [ListProblem]
    /// All problems, including those past the limit.
    public let problemCount: Int
    /// Lines that held a name but were skipped silently (`localhost` in a hosts file).
    public let ignoredCount: Int
    /// RPZ triggers this resolver does not implement, by kind (`rpz-ip`, `rpz-nsdname`, …).
    public let unsupportedTriggers: [String: Int]

    /// How many problems are kept with their text; the rest are only counted.
    public static let problemLimit = 10_000

    init(arena: [UInt8], count: Int, rules: [EntryRule] = [.wholeSubtree], entryRules: [UInt32] = [],
         lines: [UInt32] = [], problems: [ListProblem], problemCount: Int, ignoredCount: Int = 0,
         unsupportedTriggers: [String: Int] = [:]) {
        self.arena = arena
        self.count = count
        self.rules = rules
        self.entryRules = entryRules
        self.lines = lines
        self.problems = problems
        self.problemCount = problemCount
        self.ignoredCount = ignoredCount
        self.unsupportedTriggers = unsupportedTriggers
    }

    /// Every entry this list serves, whatever its kind: what the fail-closed rules of a load
    /// count (`PolicyLoader.fault`). The one place to add entries of another kind to.
    public var entryTotal: Int { count }

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

    /// Entry counts by kind, for `check`: "name and below" for plain lists; trigger and action
    /// kinds for RPZ zones.
    public var countsByKind: [(kind: String, count: Int)] {
        if entryRules.isEmpty { return [("name and below", count)] }
        var byRule = [Int](repeating: 0, count: rules.count)
        for rule in entryRules { byRule[Int(rule)] += 1 }
        var kinds: [String: Int] = [:]
        for (index, rule) in rules.enumerated() where byRule[index] > 0 {
            let trigger = rule.scope == .belowOnly ? "wildcard" : "exact"
            kinds["\(trigger) \(rule.actionName)", default: 0] += byRule[index]
        }
        return kinds.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

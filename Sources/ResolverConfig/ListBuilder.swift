/// Collects the entries a `ListReader` finds, in the compact form of a `ParsedList`: names back
/// to back in wire form in one arena, the rule of each entry (only once some entry has a rule
/// other than the list's own), line numbers when asked for, address entries apart from the names,
/// and the problems, of which only the first `problemsKept` keep their text.
///
/// Every reader fills the same builder, so that the memory a name costs, the problem limit and
/// the rule table are the same whatever the format, and a new format only has to find names.
public struct ListBuilder {
    /// The file name used in problems (as the operator wrote it, or the full path).
    public let fileName: String
    /// Keep each entry's line number (for `check` and `explain`; costs 4 bytes a name).
    public let recordLines: Bool
    /// How many problems are kept with their text (all are counted).
    public let problemsKept: Int

    private(set) var arena: [UInt8] = []
    public private(set) var count = 0
    private var lines: [UInt32] = []
    private var rules: [EntryRule] = []
    private var ruleIDs: [EntryRule: UInt32] = [:]
    /// Empty while every name has the list's own rule, which saves 4 bytes a name for plain lists.
    /// While it is empty, rule 0 is the list's own rule (`addAddress` keeps it so).
    private var entryRules: [UInt32] = []
    private var addresses: [AddressEntry] = []
    private var problems: [ListProblem] = []
    public private(set) var problemCount = 0
    private var ignoredCount = 0
    private var isWholeZone = false
    private var unsupportedTriggers: [String: Int] = [:]

    public init(fileName: String, recordLines: Bool = false, problemsKept: Int = ParsedList.problemLimit) {
        self.fileName = fileName
        self.recordLines = recordLines
        self.problemsKept = problemsKept
    }

    /// Reserves the arena before the first name, so that a list of millions of names is never
    /// copied into a larger array (the capacity stays with the `ParsedList`: size it exactly).
    public mutating func reserveArena(_ bytes: Int) {
        arena.reserveCapacity(bytes)
    }

    /// Adds a name written as text, with the list's own rule (the name and everything below it,
    /// the list's action); a name that is not valid is recorded as a problem of `line` instead.
    public mutating func addName(_ text: ArraySlice<UInt8>, line: Int) {
        if let problem = DomainName.appendWireForm(of: text, to: &arena) {
            report(line: line, "\(problem): \(Self.quoted(text))")
            return
        }
        if !entryRules.isEmpty { entryRules.append(ruleID(.wholeSubtree)) }
        added(line: line)
    }

    /// Adds the name made of `labels` (wire-form labels, already lower case and checked, without
    /// the final zero byte) with a rule of its own; equal rules are stored once.
    public mutating func addEntry(labels: ArraySlice<UInt8>, rule: EntryRule, line: Int) {
        arena.append(contentsOf: labels)
        arena.append(0)
        let id = ruleID(rule)
        if entryRules.isEmpty && count > 0 {
            // Entries so far all had the list's rule: give them its index now that rules differ.
            entryRules = [UInt32](repeating: ruleID(.wholeSubtree), count: count)
        }
        entryRules.append(id)
        added(line: line)
    }

    /// Adds an address entry with `rule`, from the same rule table as the names. Its rule index
    /// goes into the entry itself, so `entryRules` (names only) is left alone; but rule 0 must
    /// stay the list's own rule while names take it implicitly, so that rule is entered first.
    public mutating func addAddress(_ cidr: CIDR, trigger: AddressTrigger, rule: EntryRule, line: Int) {
        if rules.isEmpty { _ = ruleID(.wholeSubtree) }
        addresses.append(AddressEntry(cidr: cidr, trigger: trigger, rule: ruleID(rule),
                                      line: UInt32(truncatingIfNeeded: line)))
    }

    /// Address entries added so far.
    public var addressCount: Int { addresses.count }

    /// Replaces the rule of name entry `index` (counted from 0 in the order added), for records of
    /// an RPZ owner that turn up again after other owners. The old rule stays in the table (other
    /// entries may share it); when names had no rule table yet they get one first.
    public mutating func setRule(ofEntry index: Int, _ rule: EntryRule) {
        precondition(index < count, "no name entry \(index)")
        if entryRules.isEmpty {
            // Every name has rule 0, the list's own: nothing changes unless the new rule differs.
            if rule == .wholeSubtree { return }
            entryRules = [UInt32](repeating: ruleID(.wholeSubtree), count: count)
        }
        entryRules[index] = ruleID(rule)
    }

    /// Replaces the rule of address entry `index` (counted from 0 in the order added), as
    /// `setRule(ofEntry:_:)` does for names.
    public mutating func setRule(ofAddress index: Int, _ rule: EntryRule) {
        addresses[index] = addresses[index].with(rule: ruleID(rule))
    }

    /// Records a skipped line (or record); all are counted, the first `problemsKept` kept.
    public mutating func report(line: Int, _ reason: String) {
        problemCount += 1
        if problems.count < problemsKept {
            problems.append(ListProblem(file: fileName, line: line, reason: reason))
        }
    }

    /// Marks the list as a whole zone (an RPZ zone's SOA was read): see `ParsedList.isWholeZone`.
    public mutating func markWholeZone() {
        isWholeZone = true
    }

    /// Counts a name skipped on purpose (`localhost` in a hosts file), which is not a problem.
    public mutating func countIgnored() {
        ignoredCount += 1
    }

    /// Counts an entry whose trigger this resolver does not implement (`rpz-nsdname`, …), skipped.
    public mutating func countUnsupported(trigger kind: String) {
        unsupportedTriggers[kind, default: 0] += 1
    }

    /// The list read so far. The arrays are handed over, not copied.
    public func finish() -> ParsedList {
        ParsedList(arena: arena, count: count, rules: rules.isEmpty ? [.wholeSubtree] : rules,
                   entryRules: entryRules, lines: lines, addresses: addresses, problems: problems,
                   problemCount: problemCount, ignoredCount: ignoredCount, unsupportedTriggers: unsupportedTriggers,
                   isWholeZone: isWholeZone)
    }

    private mutating func added(line: Int) {
        count += 1
        if recordLines { lines.append(UInt32(truncatingIfNeeded: line)) }
    }

    private mutating func ruleID(_ rule: EntryRule) -> UInt32 {
        if let known = ruleIDs[rule] { return known }
        let id = UInt32(rules.count)
        rules.append(rule)
        ruleIDs[rule] = id
        return id
    }

    /// The token in double quotes for a problem report; bytes outside printable ASCII as `\xNN`.
    public static func quoted(_ token: ArraySlice<UInt8>) -> String {
        var text = "\""
        for byte in token.prefix(80) {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): text += "\\" + String(UnicodeScalar(byte))
            case 0x20..<0x7F: text.unicodeScalars.append(UnicodeScalar(byte))
            default: text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return text + (token.count > 80 ? "…\"" : "\"")
    }
}

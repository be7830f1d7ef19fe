/// The names a zone transfer's deltas changed since the policy's `DomainTable` was built: for
/// each such name, the complete set of (list, rule) pairs that now hold it, which replaces the
/// table's group for that name (an empty set: the name is gone). See `CompiledPolicy.applying`.
///
/// Immutable: a delta makes a new overlay from the old one (a copy of this small dictionary,
/// never of the table), and the policy that carries it shares the table, the arenas and the
/// answer templates with the policy before. A lookup of a policy without an overlay pays one nil
/// check; with one, a dictionary probe per suffix of the name whose label count some changed
/// name has.
public final class NameOverlay: Sendable {
    public struct Entry: Sendable {
        /// The pairs holding the name, in config order (list, then rule), as table groups are.
        public let members: [DomainTable.Member]
        /// The same pairs in precedence order (`CompiledPolicy.rank`).
        let ranked: [CompiledPolicy.Ranked]
    }

    /// By lower-case wire-form name, as the table keys names.
    let entries: [[UInt8]: Entry]
    /// Bit k set when some changed name has k labels (as `DomainTable.labelCounts`).
    let labelCounts: UInt64
    /// Entries added minus entries deleted, by list index: what the list counts beyond its base.
    let entryChange: [Int: Int]

    init(entries: [[UInt8]: Entry], labelCounts: UInt64, entryChange: [Int: Int]) {
        self.entries = entries
        self.labelCounts = labelCounts
        self.entryChange = entryChange
    }

    /// Names the overlay holds (changed since the table was built).
    public var count: Int { entries.count }

    /// Visits the suffixes of `name` that some list holds, most specific first, as
    /// `DomainTable.lookup` does, the overlay deciding before the table: `visit` gets either the
    /// overlay's entry (group -1) or the table's group id, and the suffix's offset in `name`.
    @inline(__always)
    func lookup(_ name: UnsafeBufferPointer<UInt8>, table: DomainTable, _ visit: (Int, Entry?, Int) -> Bool) {
        var start = 0
        var labels = DomainTable.labels(name)
        while start < name.count && name[start] != 0 {
            let bit = DomainTable.labelBit(labels)
            let suffix = UnsafeBufferPointer(rebasing: name[start...])
            if labelCounts & bit != 0, let entry = entries[Array(suffix)] {
                if !entry.members.isEmpty && visit(-1, entry, start) { return }
            } else if table.labelCounts & bit != 0, let group = table.exactGroup(suffix), visit(group, nil, start) {
                return
            }
            start += Int(name[start]) + 1
            labels -= 1
        }
    }
}

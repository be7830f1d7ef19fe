/// A zone transfer's delta applied to a compiled policy without compiling it again: the next
/// policy shares the table, the arenas and the address tables, and carries a `NameOverlay` of the
/// names the delta changed.
extension CompiledPolicy {
    /// One change of a list's name entries, in the order the transfer brings them.
    public struct NameChange: Sendable, Equatable {
        public enum Kind: Sendable { case delete, add }
        public let kind: Kind
        /// Lower-case wire form, relative to the zone as the list's entries are.
        public let name: [UInt8]
        public let rule: EntryRule

        public init(_ kind: Kind, name: [UInt8], rule: EntryRule) {
            self.kind = kind
            self.name = name
            self.rule = rule
        }
    }

    public enum DeltaProblem: Error, CustomStringConvertible {
        /// The delta does not fit the policy (it deletes an entry the list does not hold): the
        /// transfer is refused as a whole and the policy kept.
        case inconsistent(String)
        /// The delta is fine but not one the overlay can carry (a rule the list has no template
        /// for yet, two rules for one trigger): the list must be read again whole.
        case needsFullRead(String)

        public var description: String {
            switch self {
            case .inconsistent(let reason): return "the delta does not fit the list: \(reason)"
            case .needsFullRead(let reason): return "the delta needs the list read again: \(reason)"
            }
        }
    }

    /// This policy with `changes` made to list `index`; all or nothing (a throw changes nothing,
    /// and this policy is immutable anyway). Costs the changes and the names they touch, never the
    /// size of the lists: the overlay of the result is this one's plus the changed names.
    public func applying(_ changes: [NameChange], toList index: Int) throws(DeltaProblem) -> CompiledPolicy {
        let rules = lists[index].parsed.rules
        var ruleIndex: [EntryRule: Int] = [:]
        for (position, rule) in rules.enumerated() where ruleIndex[rule] == nil { ruleIndex[rule] = position }
        var entries = overlay?.entries ?? [:]
        var labelCounts = overlay?.labelCounts ?? 0
        var entryChange = overlay?.entryChange ?? [:]
        for change in changes {
            guard let rule = ruleIndex[change.rule] else {
                throw .needsFullRead("a rule the list does not hold yet (\(change.rule.actionName))")
            }
            let member = DomainTable.Member(list: Int32(index), rule: Int32(rule))
            let base = change.name.withUnsafeBufferPointer { table.exactGroup($0) }.map { table.groups[$0] } ?? []
            var members = entries[change.name]?.members ?? base
            switch change.kind {
            case .delete:
                guard let position = members.firstIndex(of: member) else {
                    throw .inconsistent("it deletes \(describe(change)), which the list does not hold")
                }
                members.remove(at: position)
                entryChange[index, default: 0] -= 1
            case .add:
                if members.contains(member) { continue }  // an addition of what is there changes nothing
                if members.contains(where: { $0.list == member.list && rules[Int($0.rule)].scope == change.rule.scope }) {
                    throw .needsFullRead("\(describe(change)) would hold two rules for one trigger")
                }
                members.append(member)
                members.sort { $0.list != $1.list ? $0.list < $1.list : $0.rule < $1.rule }
                entryChange[index, default: 0] += 1
            }
            if members == base {
                entries[change.name] = nil  // back to what the table says: nothing to carry
            } else {
                entries[change.name] = NameOverlay.Entry(members: members, ranked: Self.rank(members, lists: lists))
                labelCounts |= change.name.withUnsafeBufferPointer { DomainTable.labelBit(DomainTable.labels($0)) }
            }
        }
        if entries.isEmpty && overlay == nil { return self }
        return CompiledPolicy(sharing: self, overlay: NameOverlay(entries: entries, labelCounts: labelCounts,
                                                                  entryChange: entryChange))
    }

    private func describe(_ change: NameChange) -> String {
        let name = DomainName.presentation(ofWire: change.name)
        return change.rule.scope == .belowOnly ? "*.\(name) (\(change.rule.actionName))" : "\(name) (\(change.rule.actionName))"
    }

    /// The changes of an RPZ delta's records (zone-file text, absolute names in `zone`): deletions
    /// first, then additions. Only QNAME triggers with a CNAME action (`.`, `*.`, `rpz-passthru.`,
    /// `rpz-drop.`, `rpz-tcp-only.`) can be carried by the overlay; local data (one rule for all
    /// the records of an owner, which a delta sees only in part), address triggers and records the
    /// reader reports need the zone read again whole (`needsFullRead`).
    public static func rpzChanges(deleted: [String], added: [String], zone: String) throws(DeltaProblem) -> [NameChange] {
        var changes: [NameChange] = []
        for (kind, lines) in [(NameChange.Kind.delete, deleted), (.add, added)] where !lines.isEmpty {
            let text = lines.joined(separator: "\n") + "\n"
            let parsed = RPZReader(origin: zone).parse(Array(text.utf8), fileName: "transfer delta")
            if parsed.problemCount > 0 {
                throw .needsFullRead(parsed.problems.first.map { "\($0)" } ?? "a record the reader reports")
            }
            if !parsed.addresses.isEmpty { throw .needsFullRead("an rpz-ip or rpz-client-ip trigger") }
            if !parsed.unsupportedTriggers.isEmpty { throw .needsFullRead("an rpz-nsdname or rpz-nsip trigger") }
            var localData = false
            parsed.forEachName { entry, range in
                let rule = parsed.rules[parsed.ruleIndex(ofEntry: entry)]
                if case .localData = rule.action { localData = true }
                changes.append(NameChange(kind, name: Array(parsed.arena[range]), rule: rule))
            }
            if localData { throw .needsFullRead("local data") }
        }
        return changes
    }
}

/// The lists of one config, loaded and indexed: what a policy snapshot matches names against.
///
/// Immutable. Built off to the side by `PolicyLoader` and then published whole, so a query sees
/// either the old lists or the new ones, never a mix.
///
/// Precedence: the most specific matching entry decides; among entries for the same name, allow
/// (an allow list, or an RPZ passthru) wins, then the list named first in the config. Lists out
/// of their `active_from`/`active_until` window are skipped as if absent. Monitor lists never
/// decide; their hits are reported separately.
public final class CompiledPolicy: Sendable {
    public let lists: [LoadedList]
    public let table: DomainTable
    /// For each group of `table`, its members in precedence order, monitor members last.
    let ranked: [[Ranked]]
    /// True when some list is in monitor mode, so lookups must look past the decision for hits.
    public let hasMonitorLists: Bool

    struct Ranked: Sendable {
        let list: Int
        let rule: Int
        let scope: EntryRule.Scope
        let monitor: Bool
    }

    public init(lists: [LoadedList]) throws {
        let table = try DomainTable(lists: lists.enumerated().map { ($0.element.parsed, $0.offset) })
        self.lists = lists
        self.table = table
        self.hasMonitorLists = lists.contains { $0.settings.action == .monitor }
        func isAllow(_ member: DomainTable.Member) -> Bool {
            let list = lists[Int(member.list)]
            if list.settings.action == .allow { return true }
            return list.parsed.rules[Int(member.rule)].action == .passthru && list.settings.action == .block
        }
        self.ranked = table.groups.map { members in
            members.sorted { a, b in
                let monitorA = lists[Int(a.list)].settings.action == .monitor
                let monitorB = lists[Int(b.list)].settings.action == .monitor
                if monitorA != monitorB { return monitorB }
                let allowA = isAllow(a), allowB = isAllow(b)
                if allowA != allowB { return allowA }
                return a.list != b.list ? a.list < b.list : a.rule < b.rule
            }.map { member in
                Ranked(list: Int(member.list), rule: Int(member.rule),
                       scope: lists[Int(member.list)].parsed.rules[Int(member.rule)].scope,
                       monitor: lists[Int(member.list)].settings.action == .monitor)
            }
        }
    }

    /// The entry that decides for `name` (lower-case wire form) among the lists `active` says are
    /// in force; nil when none holds the name or a name above it.
    @inline(__always)
    public func decide(_ name: UnsafeBufferPointer<UInt8>, active: [Bool]) -> PolicyMatch? {
        var result: PolicyMatch? = nil
        let ranked = self.ranked
        table.lookup(name) { group, offset in
            for member in ranked[group] where !member.monitor && active[member.list]
                && member.scope.applies(atSuffixOffset: offset) {
                result = PolicyMatch(listIndex: member.list, ruleIndex: member.rule, suffixOffset: offset)
                return true
            }
            return false
        }
        return result
    }

    /// The monitor-list entries in force that match `name`: the most specific per list.
    public func monitorHits(_ name: UnsafeBufferPointer<UInt8>, active: [Bool]) -> [PolicyMatch] {
        guard hasMonitorLists else { return [] }
        var hits: [PolicyMatch] = []
        let ranked = self.ranked
        table.lookup(name) { group, offset in
            for member in ranked[group] where member.monitor && active[member.list]
                && member.scope.applies(atSuffixOffset: offset) && !hits.contains(where: { $0.listIndex == member.list }) {
                hits.append(PolicyMatch(listIndex: member.list, ruleIndex: member.rule, suffixOffset: offset))
            }
            return false
        }
        return hits
    }

    /// Every entry of every list that holds `name` or a name above it, most specific first, with
    /// whether its rule applies at that level; for `explain`.
    public func allMatches(_ name: UnsafeBufferPointer<UInt8>) -> [(member: DomainTable.Member, suffixOffset: Int, applies: Bool)] {
        var result: [(member: DomainTable.Member, suffixOffset: Int, applies: Bool)] = []
        let groups = table.groups
        table.lookup(name) { group, offset in
            for member in groups[group] {
                let rule = lists[Int(member.list)].parsed.rules[Int(member.rule)]
                result.append((member, offset, rule.scope.applies(atSuffixOffset: offset)))
            }
            return false
        }
        return result
    }

    /// Which lists are in force at `date` (their schedule windows).
    public func activeLists(at date: Double) -> [Bool] {
        lists.map { $0.settings.schedule.isActive(at: date) }
    }

    /// The next moment after `date` when some list's schedule starts or ends, if any.
    public func nextScheduleChange(after date: Double) -> Double? {
        lists.compactMap { $0.settings.schedule.nextChange(after: date) }.min()
    }

    /// Total names over all lists (duplicates counted per list).
    public var entryCount: Int { lists.reduce(0) { $0 + $1.parsed.count } }
}

/// Which entry decided: the list, its rule, and which suffix of the query name it matched.
public struct PolicyMatch: Sendable, Equatable {
    public let listIndex: Int
    public let ruleIndex: Int
    public let suffixOffset: Int

    public init(listIndex: Int, ruleIndex: Int, suffixOffset: Int) {
        self.listIndex = listIndex
        self.ruleIndex = ruleIndex
        self.suffixOffset = suffixOffset
    }
}

/// One list of the config with its parsed contents and where they came from.
public struct LoadedList: Sendable {
    public let settings: ListSettings
    public let parsed: ParsedList
    public let identity: ListFile.Identity
    /// Seconds spent reading and parsing (0 when reused from the previous policy).
    public let loadSeconds: Double
    /// True when the file was unchanged and the previous policy's parse was reused.
    public let reused: Bool
    /// Why the file as read is not a list to serve (`PolicyLoader.fault`); nil when it is.
    public let fault: String?
    /// True when, for `fault`, this list serves the entries of its previous load (`parsed` and
    /// `identity` are those) instead of the file as read: its entries are stale, not gone.
    public let keptPrevious: Bool

    public init(settings: ListSettings, parsed: ParsedList, identity: ListFile.Identity, loadSeconds: Double,
                reused: Bool, fault: String? = nil, keptPrevious: Bool = false) {
        self.settings = settings
        self.parsed = parsed
        self.identity = identity
        self.loadSeconds = loadSeconds
        self.reused = reused
        self.fault = fault
        self.keptPrevious = keptPrevious
    }
}

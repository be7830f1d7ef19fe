/// The lists of one config, loaded and indexed: what a policy snapshot matches names, answer
/// addresses and client addresses against.
///
/// Immutable. Built off to the side by `PolicyLoader` and then published whole, so a query sees
/// either the old lists or the new ones, never a mix.
///
/// Precedence (`precedence:`): with `specific`, the most specific matching entry decides; among
/// entries for the same name, allow (an allow list, or an RPZ passthru) wins, then the list named
/// first in the config. With `listed`, the first list in config order with any match decides, and
/// within it the most specific entry. Lists out of their `active_from`/`active_until` window, and
/// lists with `clients:` for a query from elsewhere, are skipped as if absent. Monitor lists never
/// decide; their hits are reported separately.
public final class CompiledPolicy: Sendable {
    public let lists: [LoadedList]
    public let table: DomainTable
    /// The prefixes matched against the A and AAAA records of an answer (`ips` lists, RPZ `rpz-ip`).
    public let answerAddresses: AddressTable
    /// The prefixes matched against the client's address (RPZ `rpz-client-ip`).
    public let clientAddresses: AddressTable
    /// For each group of `table`, its members in precedence order, monitor members last.
    let ranked: [[Ranked]]
    /// The names changed by zone-transfer deltas since `table` was built; nil for a policy
    /// compiled whole (every load and reload), so its lookups cost one nil check more.
    public let overlay: NameOverlay?
    /// True when some list is in monitor mode, so lookups must look past the decision for hits.
    public let hasMonitorLists: Bool
    public let precedence: Precedence
    /// Each list's `clients:` (nil: every client), and whether any list has them.
    let clientScopes: [[CIDR]?]
    public let hasClientScopedLists: Bool

    struct Ranked: Sendable {
        let list: Int
        let rule: Int
        let scope: EntryRule.Scope
        let monitor: Bool
    }

    public init(lists: [LoadedList], precedence: Precedence = .specific) throws {
        let indexed = lists.enumerated().map { (parsed: $0.element.parsed, index: $0.offset) }
        let table = try DomainTable(lists: indexed)
        self.lists = lists
        self.table = table
        self.answerAddresses = AddressTable(lists: indexed, trigger: .answer)
        self.clientAddresses = AddressTable(lists: indexed, trigger: .client)
        self.hasMonitorLists = lists.contains { $0.settings.action == .monitor }
        self.precedence = precedence
        self.clientScopes = lists.map { $0.settings.clients }
        self.hasClientScopedLists = lists.contains { $0.settings.clients != nil }
        self.ranked = table.groups.map { Self.rank($0, lists: lists) }
        self.overlay = nil
    }

    /// A policy that shares everything of `base` (lists, table, address tables) but its name
    /// overlay: what a zone transfer's delta makes (`applying`).
    init(sharing base: CompiledPolicy, overlay: NameOverlay?) {
        lists = base.lists
        table = base.table
        answerAddresses = base.answerAddresses
        clientAddresses = base.clientAddresses
        ranked = base.ranked
        hasMonitorLists = base.hasMonitorLists
        precedence = base.precedence
        clientScopes = base.clientScopes
        hasClientScopedLists = base.hasClientScopedLists
        self.overlay = overlay
    }

    /// The members of one name in precedence order: monitor lists last, then allow before block,
    /// then config order.
    static func rank(_ members: [DomainTable.Member], lists: [LoadedList]) -> [Ranked] {
        func isAllow(_ member: DomainTable.Member) -> Bool { lists[Int(member.list)].allows(rule: Int(member.rule)) }
        return members.sorted { a, b in
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

    /// Visits the groups of the suffixes of `name` in the table or the overlay, most specific
    /// first, with their members in config order and in precedence order, until `visit` is true.
    @inline(__always)
    func lookup(_ name: UnsafeBufferPointer<UInt8>,
                _ visit: (_ members: [DomainTable.Member], _ ranked: [Ranked], _ offset: Int) -> Bool) {
        let groups = table.groups
        let ranked = self.ranked
        guard let overlay else {
            table.lookup(name) { group, offset in visit(groups[group], ranked[group], offset) }
            return
        }
        overlay.lookup(name, table: table) { group, entry, offset in
            if let entry { return visit(entry.members, entry.ranked, offset) }
            return visit(groups[group], ranked[group], offset)
        }
    }

    /// The entry that decides for `name` (lower-case wire form) among the lists `active` says are
    /// in force, that apply to `client` (its address bytes; nil when unknown, and then lists with
    /// `clients:` never apply) and that come before list `limit` in the config; nil when none
    /// holds the name or a name above it.
    @inline(__always)
    public func decide(_ name: UnsafeBufferPointer<UInt8>, active: [Bool], client: UnsafeRawBufferPointer? = nil,
                       before limit: Int = .max) -> PolicyMatch? {
        if precedence == .listed { return decideListed(name, active: active, client: client, before: limit) }
        var result: PolicyMatch? = nil
        // The table's own walk when no delta changed any name: the hot path as it was, written
        // out again rather than shared with the overlay's walk (a local function cost more).
        guard overlay != nil else {
            let ranked = self.ranked
            table.lookup(name) { group, offset in
                for member in ranked[group] where !member.monitor && member.list < limit && active[member.list]
                    && member.scope.applies(atSuffixOffset: offset) && applies(member.list, to: client) {
                    result = PolicyMatch(listIndex: member.list, ruleIndex: member.rule, suffixOffset: offset)
                    return true
                }
                return false
            }
            return result
        }
        lookup(name) { _, members, offset in
            for member in members where !member.monitor && member.list < limit && active[member.list]
                && member.scope.applies(atSuffixOffset: offset) && applies(member.list, to: client) {
                result = PolicyMatch(listIndex: member.list, ruleIndex: member.rule, suffixOffset: offset)
                return true
            }
            return false
        }
        return result
    }

    /// `decide` under `precedence: listed`: the list named first with a match, and within it the
    /// most specific entry (suffixes are visited most specific first, so the first hit of a list
    /// is its best). Stops early only when the first list in force matched.
    private func decideListed(_ name: UnsafeBufferPointer<UInt8>, active: [Bool], client: UnsafeRawBufferPointer?,
                              before limit: Int) -> PolicyMatch? {
        var result: PolicyMatch? = nil
        lookup(name) { members, _, offset in
            // Members are in config order: the first that applies is this name's best list.
            for member in members {
                let list = Int(member.list)
                if list >= min(limit, result?.listIndex ?? .max) { break }
                guard lists[list].settings.action != .monitor, active[list], applies(list, to: client) else { continue }
                let rule = lists[list].parsed.rules[Int(member.rule)]
                guard rule.scope.applies(atSuffixOffset: offset) else { continue }
                result = PolicyMatch(listIndex: list, ruleIndex: Int(member.rule), suffixOffset: offset)
                break
            }
            return result?.listIndex == 0
        }
        return result
    }

    /// Whether list `index` applies to a query from `client` (its `clients:`).
    @inline(__always)
    public func applies(_ index: Int, to client: UnsafeRawBufferPointer?) -> Bool {
        guard hasClientScopedLists, let scope = clientScopes[index] else { return true }
        guard let client else { return false }
        return scope.contains { $0.contains(client) }
    }

    /// The monitor-list entries in force that match `name`: the most specific per list.
    public func monitorHits(_ name: UnsafeBufferPointer<UInt8>, active: [Bool]) -> [PolicyMatch] {
        guard hasMonitorLists else { return [] }
        var hits: [PolicyMatch] = []
        lookup(name) { _, ranked, offset in
            for member in ranked where member.monitor && active[member.list]
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
        lookup(name) { members, _, offset in
            for member in members {
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

    /// Total entries over all lists, names and addresses (duplicates counted per list).
    public var entryCount: Int { lists.indices.reduce(0) { $0 + entries(ofList: $1) } }

    /// The entries list `index` serves: its file's, with the changes of the deltas applied since.
    public func entries(ofList index: Int) -> Int {
        lists[index].parsed.entryTotal + (overlay?.entryChange[index] ?? 0)
    }

    /// Whether some list matches the addresses of answers, so answers must be looked through.
    public var hasAnswerAddressTriggers: Bool { !answerAddresses.isEmpty }

    /// Whether some list matches the client's address, so queries must be judged by it.
    public var hasClientTriggers: Bool { !clientAddresses.isEmpty }
}

/// Which entry decided: the list, its rule, which suffix of the matched name it holds, and what
/// kind of trigger matched.
public struct PolicyMatch: Sendable, Equatable {
    public let listIndex: Int
    public let ruleIndex: Int
    public let suffixOffset: Int
    public let trigger: Trigger

    /// What of the query or its answer an entry matched.
    public enum Trigger: String, Sendable {
        /// The question name.
        case qname
        /// A name the answer's CNAME or DNAME chain leads to.
        case cname
        /// An address of the answer.
        case ip
        /// The client's address (RPZ `rpz-client-ip`).
        case client
    }

    public init(listIndex: Int, ruleIndex: Int, suffixOffset: Int, trigger: Trigger = .qname) {
        self.listIndex = listIndex
        self.ruleIndex = ruleIndex
        self.suffixOffset = suffixOffset
        self.trigger = trigger
    }

    /// The same entry, found as a trigger of another kind.
    public func found(as trigger: Trigger) -> PolicyMatch {
        PolicyMatch(listIndex: listIndex, ruleIndex: ruleIndex, suffixOffset: suffixOffset, trigger: trigger)
    }
}

/// One list of the config with its parsed contents and where they came from.
public struct LoadedList: Sendable {
    /// Whether an entry with `rule` lets a query through: any entry of an allow list, or an RPZ
    /// passthru of a block list. The one statement of what "allow" means for precedence,
    /// `check`'s shadowing report and `explain`.
    public func allows(rule: Int) -> Bool {
        settings.action == .allow || (settings.action == .block && parsed.rules[rule].action == .passthru)
    }

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

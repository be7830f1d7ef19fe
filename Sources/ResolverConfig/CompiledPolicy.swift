/// The lists of one config, loaded and indexed: what a policy snapshot matches names against.
///
/// Immutable. Built off to the side by `PolicyLoader` and then published whole, so a query sees
/// either the old lists or the new ones, never a mix.
public final class CompiledPolicy: Sendable {
    public let lists: [LoadedList]
    public let table: DomainTable
    /// For each group of `table`, the list that decides when that name is the most specific match:
    /// an allow list beats a block list, then the list named first in the config wins.
    let winners: [Int]

    public init(lists: [LoadedList]) throws {
        let table = try DomainTable(lists: lists.enumerated().map { ($0.element.parsed, $0.offset) })
        self.lists = lists
        self.table = table
        self.winners = table.groups.map { members in
            members.min { a, b in
                let allowA = lists[a].settings.action == .allow
                let allowB = lists[b].settings.action == .allow
                return allowA != allowB ? allowA : a < b
            }!  // groups are never empty: every group is made from at least one list
        }
    }

    /// The list that decides for `name` (lower-case wire form), and where the matching suffix
    /// starts in `name`; nil when no list holds the name or any name above it.
    @inline(__always)
    public func decide(_ name: UnsafeBufferPointer<UInt8>) -> PolicyMatch? {
        var result: PolicyMatch? = nil
        let winners = self.winners
        table.lookup(name) { group, offset in
            result = PolicyMatch(listIndex: winners[group], suffixOffset: offset)
            return true
        }
        return result
    }

    /// Every list that holds `name` or a name above it, most specific first; for `explain`.
    public func allMatches(_ name: UnsafeBufferPointer<UInt8>) -> [(listIndices: [Int], suffixOffset: Int)] {
        var result: [(listIndices: [Int], suffixOffset: Int)] = []
        let groups = table.groups
        table.lookup(name) { group, offset in
            result.append((groups[group], offset))
            return false
        }
        return result
    }

    /// Total names over all lists (duplicates counted per list).
    public var entryCount: Int { lists.reduce(0) { $0 + $1.parsed.count } }
}

/// Which list decided, and which suffix of the query name it matched.
public struct PolicyMatch: Sendable, Equatable {
    public let listIndex: Int
    public let suffixOffset: Int
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

    public init(settings: ListSettings, parsed: ParsedList, identity: ListFile.Identity, loadSeconds: Double,
                reused: Bool) {
        self.settings = settings
        self.parsed = parsed
        self.identity = identity
        self.loadSeconds = loadSeconds
        self.reused = reused
    }
}

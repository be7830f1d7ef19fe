#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The compiled name index of a policy: which lists (and which of their rules) hold a name, for
/// every name of every list.
///
/// Layout: the names stay in the `ParsedList` arenas they were parsed into (shared, not copied,
/// between policies while a file is unchanged). One open-addressing table of 8-byte slots points
/// into them: 32 bits of global arena offset, an 8-bit hash tag that rules out almost every wrong
/// slot without touching the arena, and a 24-bit group id naming the set of (list, rule) pairs
/// that hold the name. Linear probing with Robin Hood placement, so no entry sits far from its
/// home slot and a lookup gives up after `maxDisplacement` probes. A lookup hashes each suffix of
/// the query name, most specific first, so its cost depends on the number of labels, never on the
/// size of the lists.
///
/// Immutable after `init`, hence `Sendable` and safe to read from every event loop without a lock.
public final class DomainTable: Sendable {
    /// One list entry's place in the policy: the list (config order) and its rule in that list.
    public struct Member: Hashable, Sendable {
        public let list: Int32
        public let rule: Int32
    }

    let arenas: [[UInt8]]
    /// Global offset of each arena's first byte; `bases.count == arenas.count`.
    let bases: [Int]
    let slots: [UInt64]
    /// For each group id, the entries holding the name, in config order.
    public let groups: [[Member]]
    /// Distinct names in the table.
    public let uniqueCount: Int
    /// Entries whose name (and rule) already stood earlier in the same list.
    public let duplicateCount: Int
    /// Bit k set when some name has k labels (bit 63: 63 or more). A lookup skips the suffixes
    /// no name can match: most lists hold no one-label name, so no query pays for probing its
    /// top-level domain (with linear probing, an absent name that hashes into a long run of full
    /// slots costs a probe per slot of the run, and every `.com` query would ask for `com`).
    let labelCounts: UInt64
    /// The farthest any entry sits from its home slot. Entries are placed Robin Hood style (an
    /// entry far from home takes the slot of one nearer to its own), which keeps this small, and a
    /// lookup for an absent name stops after this many probes even inside a long run of full slots.
    public let maxDisplacement: Int

    static let empty: UInt64 = .max
    static let maxArenaBytes = Int(UInt32.max) - 1
    static let maxGroups = (1 << 24) - 1

    public enum BuildError: Error, CustomStringConvertible {
        case tooLarge(bytes: Int)
        case tooManyGroups
        case unevenHashes

        public var description: String {
            switch self {
            case .tooLarge(let bytes): return "lists hold \(bytes) bytes of names; at most 4 GiB is supported"
            case .tooManyGroups: return "more than 16 million distinct combinations of list rules share names"
            case .unevenHashes: return "the names hash too unevenly to index (over 65,535 share one home slot)"
            }
        }
    }

    /// Indexes every entry of `lists`; `lists[i].index` is the list's position in the config.
    public init(lists: [(parsed: ParsedList, index: Int)]) throws {
        var bases: [Int] = []
        var total = 0
        var names = 0
        for list in lists {
            bases.append(total)
            total += list.parsed.arena.count
            names += list.parsed.count
        }
        if total > Self.maxArenaBytes { throw BuildError.tooLarge(bytes: total) }
        let capacity = max(16, names + names / 3 + 1)  // load factor at most 0.75
        let arenas = lists.map { $0.parsed.arena }
        // One byte a slot for the displacements while building (13 MB less at the peak of a
        // 10M-name reload than two); 255 or more, far beyond the 23 of 100,000 names, builds
        // again with two.
        guard let built = try Self.build(lists, bases: bases, arenas: arenas, capacity: capacity, counting: UInt8.self)
                ?? Self.build(lists, bases: bases, arenas: arenas, capacity: capacity, counting: UInt16.self)
        else { throw BuildError.unevenHashes }
        self.arenas = arenas
        self.bases = bases
        self.slots = built.slots
        self.groups = built.groups
        self.labelCounts = built.labelCounts
        self.maxDisplacement = built.maxDisplacement
        self.uniqueCount = built.unique
        self.duplicateCount = built.duplicates
    }

    /// Visits the groups of the suffixes of `name` (lower-case wire form) that are in the table,
    /// most specific first, until `visit` returns true. `visit` gets the group id (an index into
    /// `groups`) and the offset in `name` where the matching suffix starts.
    @inline(__always)
    public func lookup(_ name: UnsafeBufferPointer<UInt8>, _ visit: (Int, Int) -> Bool) {
        var start = 0
        var labels = Self.labels(name)
        let capacity = slots.count
        while start < name.count && name[start] != 0 {
            if labelCounts & Self.labelBit(labels) != 0,
               let group = group(of: UnsafeBufferPointer(rebasing: name[start...]), capacity: capacity),
               visit(group, start) {
                return
            }
            start += Int(name[start]) + 1
            labels -= 1
        }
    }

    /// Labels of a wire-form name (the root has none).
    @inline(__always)
    static func labels(_ name: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        var position = 0
        while position < name.count && name[position] != 0 {
            count += 1
            position += Int(name[position]) + 1
        }
        return count
    }

    @inline(__always)
    static func labelBit(_ labels: Int) -> UInt64 {
        1 << UInt64(min(max(labels, 0), 63))
    }

    /// The group id of exactly `name` (lower-case wire form), if it is in the table.
    public func exactGroup(_ name: UnsafeBufferPointer<UInt8>) -> Int? {
        group(of: name, capacity: slots.count)
    }

    /// The slot holding exactly `name`, a number below `slotCount`; for reports that mark names.
    public func exactSlot(_ name: UnsafeBufferPointer<UInt8>) -> Int? {
        let hash = Self.hash(name)
        var position = Self.position(hash, slots.count)
        var probes = 0
        while probes <= maxDisplacement && slots[position] != Self.empty {
            let slot = slots[position]
            if (slot >> 32) & 0xFF == hash >> 56,
               Self.equal(name, arenas: arenas, bases: bases, offset: Int(slot & 0xFFFF_FFFF)) {
                return position
            }
            position += 1
            if position == slots.count { position = 0 }
            probes += 1
        }
        return nil
    }

    public var slotCount: Int { slots.count }

    @inline(__always)
    private func group(of name: UnsafeBufferPointer<UInt8>, capacity: Int) -> Int? {
        let hash = Self.hash(name)
        let tag = hash >> 56
        var position = Self.position(hash, capacity)
        var probes = 0
        while probes <= maxDisplacement {
            let slot = slots[position]
            if slot == Self.empty { return nil }
            if (slot >> 32) & 0xFF == tag,
               Self.equal(name, arenas: arenas, bases: bases, offset: Int(slot & 0xFFFF_FFFF)) {
                return Int(slot >> 40)
            }
            position += 1
            if position == capacity { position = 0 }
            probes += 1
        }
        return nil
    }

    /// Bytes held by the index itself (slots), for memory reports.
    public var indexBytes: Int { slots.count * MemoryLayout<UInt64>.stride }

    /// FNV-1a over the bytes, finished with a 64-bit avalanche so that low and high bits both mix.
    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    /// Maps the hash onto `0..<capacity` without a division (multiply-shift).
    @inline(__always)
    static func position(_ hash: UInt64, _ capacity: Int) -> Int {
        Int((UInt64(UInt32(truncatingIfNeeded: hash)) &* UInt64(capacity)) >> 32)
    }

    /// Whether the wire name at global `offset` equals `name` (which ends in its zero byte).
    @inline(__always)
    static func equal(_ name: UnsafeBufferPointer<UInt8>, arenas: [[UInt8]], bases: [Int], offset: Int) -> Bool {
        var arenaIndex = bases.count - 1
        while bases[arenaIndex] > offset { arenaIndex -= 1 }
        let local = offset - bases[arenaIndex]
        return arenas[arenaIndex].withUnsafeBufferPointer { arena in
            // Wire names are self-delimiting: equal bytes up to `name`'s zero byte mean equal names.
            guard arena.count - local >= name.count, let base = arena.baseAddress, let other = name.baseAddress
            else { return false }
            return memcmp(base + local, other, name.count) == 0
        }
    }
}

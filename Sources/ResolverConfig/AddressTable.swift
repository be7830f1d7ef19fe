/// The compiled address index of a policy for one trigger (the answer's addresses, or the
/// client's): which lists (and which of their rules) hold a prefix containing an address.
///
/// Layout: per family, one hash table per distinct prefix length present, from the masked
/// network address (a `UInt32` for IPv4, two `UInt64` for IPv6) to a group id naming the set of
/// (list, rule) pairs that hold exactly that prefix, as in `DomainTable`. Lists hold few lengths
/// (a /32 per host, a /24 per hosting block), so a lookup is a probe per length, longest first:
/// longest-prefix match without a trie, and no cost that grows with the number of prefixes.
///
/// Immutable after `init`, hence `Sendable` and safe to read from every event loop without a lock.
public final class AddressTable: Sendable {
    /// An IPv6 network address as two integers, high bits first, so that masking is two ANDs.
    struct V6Key: Hashable, Sendable {
        let high: UInt64
        let low: UInt64

        init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }

        /// The 16 bytes in network order.
        init(_ bytes: UnsafeRawBufferPointer) {
            high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }

        func masked(_ mask: V6Key) -> V6Key {
            V6Key(high: high & mask.high, low: low & mask.low)
        }

        /// The mask of the first `length` bits (0...128).
        static func mask(_ length: Int) -> V6Key {
            func bits(_ count: Int) -> UInt64 { count <= 0 ? 0 : count >= 64 ? .max : ~(UInt64.max >> count) }
            return V6Key(high: bits(length), low: bits(length - 64))
        }
    }

    /// The prefixes of one length in one family.
    struct Level<Key: Hashable & Sendable>: Sendable {
        let length: Int
        let mask: Key
        /// Masked network address to group id.
        let groups: [Key: Int32]
    }

    /// IPv4 levels, longest prefix first.
    let v4: [Level<UInt32>]
    /// IPv6 levels, longest prefix first.
    let v6: [Level<V6Key>]
    /// For each group id, the entries holding the prefix, in config order (list, then rule).
    public let groups: [[DomainTable.Member]]
    /// Entries of this trigger over all lists (duplicates counted).
    public let count: Int

    public var isEmpty: Bool { count == 0 }

    /// Indexes the address entries of `lists` whose trigger is `trigger`; `lists[i].index` is
    /// the list's position in the config, as for `DomainTable`.
    public init(lists: [(parsed: ParsedList, index: Int)], trigger: AddressTrigger) {
        var v4: [Int: [UInt32: Int32]] = [:]
        var v6: [Int: [V6Key: Int32]] = [:]
        var groups: [[DomainTable.Member]] = []
        var groupIDs: [[DomainTable.Member]: Int32] = [:]
        var count = 0

        // The group of `members`, made once for every prefix held by the same (list, rule) pairs.
        func groupID(_ members: [DomainTable.Member]) -> Int32 {
            if let id = groupIDs[members] { return id }
            let id = Int32(groups.count)
            groups.append(members)
            groupIDs[members] = id
            return id
        }

        // The group of `current` (if any) with `member` added in config order, or nil when the
        // prefix holds it already (the same prefix twice in one list with the same rule).
        func adding(_ member: DomainTable.Member, to current: Int32?) -> Int32? {
            guard let current else { return groupID([member]) }
            var members = groups[Int(current)]
            if members.contains(member) { return nil }
            let place = members.firstIndex { ($0.list, $0.rule) > (member.list, member.rule) } ?? members.endIndex
            members.insert(member, at: place)
            return groupID(members)
        }

        for list in lists {
            for entry in list.parsed.addresses where entry.trigger == trigger {
                count += 1
                let member = DomainTable.Member(list: Int32(list.index), rule: Int32(entry.rule))
                let cidr = entry.cidr
                cidr.network.withUnsafeBytes { bytes in
                    if bytes.count == 4 {
                        let key = UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self))
                        if let id = adding(member, to: v4[cidr.prefix]?[key]) { v4[cidr.prefix, default: [:]][key] = id }
                    } else {
                        let key = V6Key(bytes)
                        if let id = adding(member, to: v6[cidr.prefix]?[key]) { v6[cidr.prefix, default: [:]][key] = id }
                    }
                }
            }
        }
        self.v4 = v4.sorted { $0.key > $1.key }.map { length, groups in
            Level(length: length, mask: ~(UInt32.max >> length), groups: groups)
        }
        self.v6 = v6.sorted { $0.key > $1.key }.map { length, groups in
            Level(length: length, mask: V6Key.mask(length), groups: groups)
        }
        self.groups = groups
        self.count = count
    }

    /// Visits the groups of every listed prefix that contains `address` (4 or 16 bytes, network
    /// order), longest prefix first, until `visit` returns true. `visit` gets the group id (an
    /// index into `groups`) and the prefix length of the match.
    ///
    /// Cost: one hash probe per distinct prefix length of the address's family (at most 33 for
    /// IPv4, 129 for IPv6; lists usually hold 2 or 3), whatever the number of prefixes. An
    /// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is looked up both as the IPv4 address it
    /// carries and as itself, longest first counting an IPv4 length as 96 more, the way
    /// `CIDR.contains` matches it.
    @inline(__always)
    public func lookup(_ address: UnsafeRawBufferPointer, _ visit: (_ group: Int, _ prefixLength: Int) -> Bool) {
        if address.count == 4 {
            let key = UInt32(bigEndian: address.loadUnaligned(as: UInt32.self))
            for level in v4 {
                if let group = level.groups[key & level.mask], visit(Int(group), level.length) { return }
            }
            return
        }
        guard address.count == 16 else { return }
        let key = V6Key(address)
        let mapped = key.high == 0 && key.low >> 32 == 0xFFFF
        let key4 = UInt32(truncatingIfNeeded: key.low)
        var next4 = mapped ? 0 : v4.count
        for level in v6 {
            while next4 < v4.count && v4[next4].length + 96 >= level.length {
                let level4 = v4[next4]
                if let group = level4.groups[key4 & level4.mask], visit(Int(group), level4.length) { return }
                next4 += 1
            }
            if let group = level.groups[key.masked(level.mask)], visit(Int(group), level.length) { return }
        }
        while next4 < v4.count {
            let level4 = v4[next4]
            if let group = level4.groups[key4 & level4.mask], visit(Int(group), level4.length) { return }
            next4 += 1
        }
    }

    /// The group id of exactly `cidr`, if some list holds that prefix; for reports.
    public func exactGroup(_ cidr: CIDR) -> Int? {
        cidr.network.withUnsafeBytes { bytes -> Int? in
            if bytes.count == 4 {
                let key = UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self))
                return v4.first { $0.length == cidr.prefix }?.groups[key].map(Int.init)
            }
            guard bytes.count == 16 else { return nil }
            return v6.first { $0.length == cidr.prefix }?.groups[V6Key(bytes)].map(Int.init)
        }
    }
}

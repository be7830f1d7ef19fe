/// Building the slots: one pass over every name of every list, placing each new name Robin
/// Hood style and merging each repeated one into the group of (list, rule) pairs that hold it.
extension DomainTable {
    /// What `build` makes: everything of the table but the arenas and their bases.
    struct Built {
        let slots: [UInt64]
        let groups: [[Member]]
        let unique: Int
        let duplicates: Int
        let labelCounts: UInt64
        let maxDisplacement: Int
    }

    /// The table, or nil when some entry would sit farther from its home slot than `Distance`
    /// counts.
    static func build<Distance: FixedWidthInteger & UnsignedInteger>(
        _ lists: [(parsed: ParsedList, index: Int)], bases: [Int], arenas: [[UInt8]], capacity: Int,
        counting: Distance.Type
    ) throws -> Built? {
        var slots = [UInt64](repeating: Self.empty, count: capacity)
        var groups: [[Member]] = []
        var groupIDs: [[Member]: Int] = [:]
        var unique = 0
        var duplicates = 0
        var labelCounts: UInt64 = 0
        // How far each entry sits from its home slot; only while building.
        var displacement = [Distance](repeating: 0, count: capacity)
        var maxDisplacement = 0
        var overflowed = false

        func groupID(_ members: [Member]) throws -> Int {
            if let id = groupIDs[members] { return id }
            if groups.count >= Self.maxGroups { throw BuildError.tooManyGroups }
            groups.append(members)
            groupIDs[members] = groups.count - 1
            return groups.count - 1
        }

        for (arenaIndex, list) in lists.enumerated() where !overflowed {
            let parsed = list.parsed
            let singles = try parsed.rules.indices.map { rule in
                try groupID([Member(list: Int32(list.index), rule: Int32(rule))])
            }
            let base = bases[arenaIndex]
            try parsed.arena.withUnsafeBufferPointer { arena in
                try parsed.forEachName { entry, range in
                    if overflowed { return }
                    let rule = parsed.ruleIndex(ofEntry: entry)
                    let name = UnsafeBufferPointer(rebasing: arena[range])
                    labelCounts |= Self.labelBit(Self.labels(name))
                    let hash = Self.hash(name)
                    let tag = UInt64(hash >> 56)
                    let probe = Self.probe(name, tag: tag, home: Self.position(hash, capacity), slots: slots,
                                           displacement: displacement, arenas: arenas, bases: bases)
                    if probe.found {
                        // A name seen before: its group gains this (list, rule) pair, unless it
                        // holds the pair already (the same name twice in one list).
                        let slot = slots[probe.position]
                        let member = Member(list: Int32(list.index), rule: Int32(rule))
                        let members = groups[Int(slot >> 40)]
                        if members.contains(member) {
                            duplicates += 1
                        } else {
                            let merged = try groupID(members + [member])
                            slots[probe.position] = slot & 0x0000_00FF_FFFF_FFFF | UInt64(merged) << 40
                        }
                        return
                    }
                    let newSlot = UInt64(base + range.lowerBound) | tag << 32 | UInt64(singles[rule]) << 40
                    guard Self.place(newSlot, at: probe.position, distance: probe.distance, slots: &slots,
                                     displacement: &displacement, maxDisplacement: &maxDisplacement)
                    else { overflowed = true; return }
                    unique += 1
                }
            }
        }
        if overflowed { return nil }
        return Built(slots: slots, groups: groups, unique: unique, duplicates: duplicates, labelCounts: labelCounts,
                     maxDisplacement: maxDisplacement)
    }

    /// Walks from `home` to the slot holding `name` (`found`), or else to where it belongs: Robin
    /// Hood order means it cannot sit past a slot whose entry is nearer its own home than we are
    /// to ours. `distance` is how far that slot is from `home`. Inlined, like `place`: both run
    /// for every name of a reload, up to 10M of them.
    @inline(__always)
    private static func probe<Distance: FixedWidthInteger & UnsignedInteger>(
        _ name: UnsafeBufferPointer<UInt8>, tag: UInt64, home: Int, slots: [UInt64], displacement: [Distance],
        arenas: [[UInt8]], bases: [Int]
    ) -> (position: Int, distance: Int, found: Bool) {
        var position = home
        var distance = 0
        while true {
            let slot = slots[position]
            if slot == Self.empty || Int(displacement[position]) < distance { return (position, distance, false) }
            if (slot >> 32) & 0xFF == tag,
               Self.equal(name, arenas: arenas, bases: bases, offset: Int(slot & 0xFFFF_FFFF)) {
                return (position, distance, true)
            }
            position += 1
            if position == slots.count { position = 0 }
            distance += 1
        }
    }

    /// Places a new name's slot value from `start` on (`distance` from its home), Robin Hood
    /// style: it takes the first slot that is empty or whose entry sits nearer its own home than
    /// the carried one, and the entry it displaces carries on the same way until one lands in an
    /// empty slot. False when some entry would sit `Distance.max` or more from home; the table is
    /// then half moved, and `build` gives it up.
    @inline(__always)
    private static func place<Distance: FixedWidthInteger & UnsignedInteger>(
        _ entry: UInt64, at start: Int, distance: Int, slots: inout [UInt64], displacement: inout [Distance],
        maxDisplacement: inout Int
    ) -> Bool {
        let capacity = slots.count
        var position = start
        var carried = entry
        var carriedDistance = distance
        while true {
            if carriedDistance >= Int(Distance.max) { return false }
            let slot = slots[position]
            if slot == Self.empty || Int(displacement[position]) < carriedDistance {
                let previousDistance = Int(displacement[position])
                slots[position] = carried
                displacement[position] = Distance(carriedDistance)
                maxDisplacement = max(maxDisplacement, carriedDistance)
                if slot == Self.empty { return true }
                carried = slot
                carriedDistance = previousDistance
            }
            position += 1
            if position == capacity { position = 0 }
            carriedDistance += 1
        }
    }
}

/// What an answer is cached under: the question (name in lower case) and the DO bit, since a
/// client that asked for DNSSEC gets records the others do not.
struct CacheKey: Hashable, Sendable {
    /// Lower-case wire-form name.
    let name: [UInt8]
    let type: UInt16
    let `class`: UInt16
    let dnssecOK: Bool

    /// The name as one run of bytes: the synthesized hash feeds the hasher a byte at a time.
    func hash(into hasher: inout Hasher) {
        name.withUnsafeBytes { hasher.combine(bytes: $0) }
        hasher.combine(type)
        hasher.combine(`class`)
        hasher.combine(dnssecOK)
    }

    /// Which shard of `AnswerCache` holds the key: FNV-1a over the name's bytes, eight at a time,
    /// and the type, finished with a mix of the high bits into the low ones. Much cheaper than
    /// the dictionary's own hash, which a lookup computes anyway; only spreads keys over locks.
    @inline(__always)
    var shardHash: Int {
        name.withUnsafeBytes { raw -> Int in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(type)
            let words = raw.count / 8
            for index in 0..<words {
                hash = (hash ^ raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) &* 0x0000_0100_0000_01b3
            }
            for index in (words * 8)..<raw.count {
                hash = (hash ^ UInt64(raw[index])) &* 0x0000_0100_0000_01b3
            }
            hash ^= hash >> 32
            hash ^= hash >> 16
            return Int(truncatingIfNeeded: hash)
        }
    }
}

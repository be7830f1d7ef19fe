/// Finds the TTL field of every record in a message ldns has already parsed and accepted, so a
/// cached copy can be served with its TTLs counted down by patching bytes instead of writing the
/// message again with ldns (DESIGN.md: the cache keeps wire images, patches ID and TTLs).
///
/// It only steps over names and fixed fields; every bound is checked and anything unexpected
/// gives nil (the answer is then not cached), so a message ldns and this walker read differently
/// is never patched.
enum TTLLocator {
    static let typeOPT: UInt16 = 41

    static func offsets(_ bytes: UnsafeRawBufferPointer) -> [Int]? {
        guard bytes.count >= 12 else { return nil }
        func u16(_ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
        let questions = u16(4)
        let records = u16(6) + u16(8) + u16(10)
        var position = 12

        /// Steps over a name: labels up to the root, or up to and including a compression pointer.
        func skipName() -> Bool {
            var steps = 0
            while position < bytes.count && steps < 128 {
                let length = Int(bytes[position])
                if length == 0 { position += 1; return true }
                if length & 0xC0 == 0xC0 { position += 2; return position <= bytes.count }
                if length & 0xC0 != 0 { return false }
                position += length + 1
                steps += 1
            }
            return false
        }

        for _ in 0..<questions {
            guard skipName(), position + 4 <= bytes.count else { return nil }
            position += 4
        }
        var result: [Int] = []
        result.reserveCapacity(records)
        for _ in 0..<records {
            guard skipName(), position + 10 <= bytes.count else { return nil }
            let type = UInt16(u16(position))
            if type != typeOPT { result.append(position + 4) }
            let length = u16(position + 8)
            position += 10 + length
            guard position <= bytes.count else { return nil }
        }
        return result
    }
}

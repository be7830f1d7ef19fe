import ResolverConfig

/// RPZ local data of one rule as answer templates (owner: a pointer to the question name).
struct LocalAnswer: Sendable {
    let records: [(type: UInt16, template: [UInt8])]

    init(records: [LocalRecord]) {
        // The parser stored each record with a one-byte root owner; swap it for the pointer.
        self.records = records.map { ($0.type, [0xC0, 0x0C] + $0.wireWithRootOwner.dropFirst()) }
    }

    /// The records that answer `type`: those of that type, else any CNAME (RPZ draft 4.2).
    func answering(_ type: UInt16) -> [[UInt8]] {
        let exact = records.filter { $0.type == type }.map(\.template)
        return exact.isEmpty ? records.filter { $0.type == RecordType.cname }.map(\.template) : exact
    }
}

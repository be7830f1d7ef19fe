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
}

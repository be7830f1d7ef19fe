import ResolverConfig

/// The question of a query copied out of the packet, kept while an answer is awaited upstream.
struct Question: Sendable, Equatable {
    /// Wire-form name as the client wrote it.
    let name: [UInt8]
    let type: UInt16
    let `class`: UInt16

    init(_ query: Query) {
        name = Array(query.name)
        type = query.type
        self.class = query.class
    }

    init(name: [UInt8], type: UInt16, class: UInt16) {
        self.name = name
        self.type = type
        self.class = `class`
    }

    /// Same name (ignoring ASCII case), type and class.
    func matches(name other: UnsafeBufferPointer<UInt8>, type otherType: UInt16, class otherClass: UInt16) -> Bool {
        guard type == otherType, self.class == otherClass, name.count == other.count else { return false }
        for index in 0..<name.count where DomainName.lowercase(name[index]) != DomainName.lowercase(other[index]) {
            return false
        }
        return true
    }
}

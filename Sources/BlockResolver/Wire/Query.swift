/// A client's query as the rest of the server sees it: plain Swift values read off the ldns
/// packet. `name` points into the ldns packet and is valid only inside the `QueryParser.parse`
/// call that produced it; copy it (`Question`) to keep it longer.
struct Query {
    let id: UInt16
    /// Recursion desired, copied into every answer.
    let recursionDesired: Bool
    let checkingDisabled: Bool
    /// The question name in wire form as the client wrote it (case preserved, uncompressed).
    let name: UnsafeBufferPointer<UInt8>
    let type: UInt16
    let `class`: UInt16
    /// The client's EDNS, when the query had an OPT record.
    let edns: EDNS?

    struct EDNS {
        let udpSize: UInt16
        let dnssecOK: Bool
    }

    /// Largest answer the client takes over UDP (RFC 1035 512 bytes, or its EDNS size).
    var maxUDPSize: Int { edns.map { max(512, Int($0.udpSize)) } ?? 512 }
}

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
        for index in 0..<name.count where asciiLower(name[index]) != asciiLower(other[index]) { return false }
        return true
    }
}

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 {
    byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
}

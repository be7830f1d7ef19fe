/// An OPT record (RFC 6891) as the resolver sends it to clients, made by ldns once per policy
/// (`LdnsRecord.opt`): version 0, the resolver's UDP size, and an Extended DNS Error where one
/// applies. The DO bit is the one field that differs per query (RFC 3225: echoed from the
/// query); `RawWriter.opt` sets it while copying, at the position ldns's layout fixes.
struct OPTTemplate: Sendable {
    let bytes: [UInt8]

    /// Owner (the root, 1 byte), type (2), UDP size (2), extended rcode (1), version (1): the
    /// flags field, whose top bit is DO, starts here.
    static let flagsOffset = 7
    static let doBit: UInt8 = 0x80

    init(_ bytes: [UInt8]) {
        precondition(bytes.count >= 11 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == UInt8(RecordType.opt),
                     "an OPT template is a whole OPT record owned by the root")
        self.bytes = bytes
    }

    var count: Int { bytes.count }
}

/// Writes a message into memory already reserved for all of it (`size` computed first): plain
/// stores and copies, with the bounds checked only in debug builds.
struct RawWriter {
    private let base: UnsafeMutableRawBufferPointer
    private(set) var position = 0

    init(_ base: UnsafeMutableRawBufferPointer) {
        self.base = base
    }

    @inline(__always)
    mutating func uint16(_ value: UInt16) {
        assert(position + 2 <= base.count)
        base.storeBytes(of: value.bigEndian, toByteOffset: position, as: UInt16.self)
        position += 2
    }

    @inline(__always)
    mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        assert(position + bytes.count <= base.count)
        guard let source = bytes.baseAddress, let target = base.baseAddress else { return }
        (target + position).copyMemory(from: source, byteCount: bytes.count)
        position += bytes.count
    }

    @inline(__always)
    mutating func bytes(_ array: [UInt8]) {
        array.withUnsafeBytes { bytes($0) }
    }

    @inline(__always)
    mutating func header(id: UInt16, flags: UInt16, answers: UInt16, authorities: UInt16, additionals: UInt16) {
        uint16(id)
        uint16(flags)
        uint16(1)
        uint16(answers)
        uint16(authorities)
        uint16(additionals)
    }

    @inline(__always)
    mutating func question(_ name: UnsafeBufferPointer<UInt8>, type: UInt16, class: UInt16) {
        bytes(UnsafeRawBufferPointer(name))
        uint16(type)
        uint16(`class`)
    }

    /// The OPT record of `template`, with DO set when the client asked for DNSSEC (RFC 3225).
    @inline(__always)
    mutating func opt(_ template: OPTTemplate, dnssecOK: Bool) {
        let start = position
        bytes(template.bytes)
        if dnssecOK {
            let at = start + OPTTemplate.flagsOffset
            base[at] = base[at] | OPTTemplate.doBit
        }
    }

    /// Overwrites a big-endian 16-bit field already written.
    @inline(__always)
    func set(_ value: UInt16, at offset: Int) {
        assert(offset + 2 <= position)
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    /// Overwrites a big-endian 32-bit field already written.
    @inline(__always)
    func set(_ value: UInt32, at offset: Int) {
        assert(offset + 4 <= position)
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Overwrites bytes already written.
    @inline(__always)
    func set(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) {
        assert(offset + bytes.count <= position)
        guard let source = bytes.baseAddress, let target = base.baseAddress else { return }
        (target + offset).copyMemory(from: source, byteCount: bytes.count)
    }
}

/// Finds the line an RPZ record starts on. ldns counts the lines it has consumed, which can
/// include blank lines after the record; the record itself is the first line after the previous
/// call's count that holds more than white space and a comment.
struct RPZLineCursor {
    let bytes: [UInt8]
    var line = 1
    var offset = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func firstContentLine(after consumed: Int) -> Int {
        while line <= consumed && offset < bytes.count { advance() }
        while offset < bytes.count && isBlankOrComment() { advance() }
        return line
    }

    private mutating func advance() {
        while offset < bytes.count && bytes[offset] != UInt8(ascii: "\n") { offset += 1 }
        offset += 1
        line += 1
    }

    private func isBlankOrComment() -> Bool {
        var index = offset
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): index += 1
            case UInt8(ascii: "\n"), UInt8(ascii: ";"): return true
            default: return false
            }
        }
        return true
    }
}

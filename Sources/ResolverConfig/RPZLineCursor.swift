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

    /// The line of a `(` at or after the cursor's line that no `)` closes (outside comments and
    /// quoted text), or nil. ldns reads such a record to the end of the file and reports one
    /// error there: this names the line the records stopped being read.
    func unclosedParenthesis() -> Int? {
        var depth = 0
        var opened = line
        var current = line
        var index = offset
        var inComment = false
        var inQuote = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") {
                current += 1
                inComment = false
            } else if inComment {
            } else if byte == UInt8(ascii: "\\") {
                // An escaped character is never a parenthesis, quote or comment (`\(`, `\;`).
                if index + 1 < bytes.count && bytes[index + 1] != UInt8(ascii: "\n") { index += 1 }
            } else if inQuote {
                if byte == UInt8(ascii: "\"") { inQuote = false }
            } else {
                switch byte {
                case UInt8(ascii: ";"): inComment = true
                case UInt8(ascii: "\""): inQuote = true
                case UInt8(ascii: "("):
                    if depth == 0 { opened = current }
                    depth += 1
                case UInt8(ascii: ")"): depth = max(0, depth - 1)
                default: break
                }
            }
            index += 1
        }
        return depth > 0 ? opened : nil
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

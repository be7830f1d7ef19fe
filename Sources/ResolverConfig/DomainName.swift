/// Domain-name normalisation for everything an operator writes (list lines, config values).
///
/// Names are stored in DNS wire form (length-prefixed labels ending in a zero byte), lower-cased,
/// because queries are matched on the wire-form name ldns hands us and so no `String` is made per
/// query. A name covers itself and everything below it; the root is never a valid list entry.
public enum DomainName {
    /// Why a piece of text is not a usable domain name; `description` is what `check` prints.
    public enum Problem: Error, Equatable, CustomStringConvertible, Sendable {
        case empty
        case url
        case ipAddress
        case emptyLabel
        case labelTooLong(Int)
        case nameTooLong(Int)
        case invalidCharacter(Character)
        case root

        public var description: String {
            switch self {
            case .empty: return "empty name"
            case .url: return "a URL, not a domain name"
            case .ipAddress: return "an IP address, not a domain name"
            case .emptyLabel: return "empty label (two dots in a row, or a leading dot)"
            case .labelTooLong(let n): return "label of \(n) characters (at most 63)"
            case .nameTooLong(let n): return "name of \(n) bytes in wire form (at most 255)"
            case .invalidCharacter(let c):
                if let ascii = c.asciiValue, ascii >= 0x20, ascii < 0x7F { return "invalid character '\(c)'" }
                let code = c.unicodeScalars.first.map { String($0.value, radix: 16, uppercase: true) } ?? "?"
                return "invalid byte \\x\(code.count < 2 ? "0" + code : code)"
            case .root: return "the root name would block everything"
            }
        }
    }

    /// Parses `text` (ASCII bytes of one name, no surrounding white space) into lower-case wire
    /// form, appending it to `out`. Accepts letters, digits, `-` and `_` in labels, an optional
    /// trailing dot, and a leading `*.` (which means the same as the name itself, since an entry
    /// covers everything below it). On failure nothing is appended.
    public static func appendWireForm(of text: ArraySlice<UInt8>, to out: inout [UInt8]) -> Problem? {
        var bytes = text
        if bytes.isEmpty { return .empty }
        if bytes.starts(with: Array("*.".utf8)) { bytes = bytes.dropFirst(2) }
        if bytes.contains(UInt8(ascii: "/")) || bytes.contains(UInt8(ascii: ":")) {
            // `http://x`, `x.com/path`, `[::1]`, `::1`, `host:port`.
            return bytes.contains(UInt8(ascii: "/")) ? .url : .ipAddress
        }
        if bytes.last == UInt8(ascii: ".") { bytes = bytes.dropLast() }
        if bytes.isEmpty { return .root }
        if bytes.count > 253 { return .nameTooLong(bytes.count + 2) }
        if looksLikeIPv4(bytes) { return .ipAddress }

        let start = out.count
        var labelStart = bytes.startIndex
        var index = bytes.startIndex
        while true {
            let atEnd = index == bytes.endIndex
            if atEnd || bytes[index] == UInt8(ascii: ".") {
                let length = bytes.distance(from: labelStart, to: index)
                if length == 0 { out.removeSubrange(start...); return .emptyLabel }
                if length > 63 { out.removeSubrange(start...); return .labelTooLong(length) }
                out.append(UInt8(length))
                for byte in bytes[labelStart..<index] { out.append(lowercase(byte)) }
                if atEnd { break }
                labelStart = bytes.index(after: index)
            } else if !isLabelByte(bytes[index]) {
                let bad = Character(Unicode.Scalar(bytes[index]))
                out.removeSubrange(start...)
                return .invalidCharacter(bad)
            }
            index = bytes.index(after: index)
        }
        out.append(0)
        return nil
    }

    /// Wire form of `text`, or the problem with it.
    public static func wireForm(_ text: String) -> Result<[UInt8], Problem> {
        var out: [UInt8] = []
        if let problem = appendWireForm(of: Array(text.utf8)[...], to: &out) { return .failure(problem) }
        return .success(out)
    }

    /// Presentation form (`www.example.com.`) of a wire-form name, for logs and tools.
    public static func presentation<C: Collection>(ofWire wire: C) -> String where C.Element == UInt8 {
        let bytes = Array(wire)
        var text = ""
        var index = 0
        while index < bytes.count {
            let length = Int(bytes[index])
            if length == 0 { break }
            index += 1
            let end = min(index + length, bytes.count)
            for byte in bytes[index..<end] {
                if byte > 0x20 && byte < 0x7f && byte != UInt8(ascii: ".") && byte != UInt8(ascii: "\\") {
                    text.unicodeScalars.append(Unicode.Scalar(byte))
                } else {
                    text += "\\" + String(format3: byte)
                }
            }
            text += "."
            index = end
        }
        return text.isEmpty ? "." : text
    }

    @inline(__always)
    public static func lowercase(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }

    @inline(__always)
    static func isLabelByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    /// Four all-digit labels: a dotted-quad address somebody pasted into a name list.
    static func looksLikeIPv4(_ bytes: ArraySlice<UInt8>) -> Bool {
        var dots = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") { dots += 1 } else if byte < 0x30 || byte > 0x39 { return false }
        }
        return dots == 3
    }
}

extension String {
    /// Three-digit decimal escape as in zone files (`\032`).
    init(format3 byte: UInt8) {
        let digits = String(byte)
        self = String(repeating: "0", count: 3 - digits.count) + digits
    }
}

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
        /// A character of an internationalised label that is not a letter, mark or digit.
        case invalidScalar(Unicode.Scalar)
        case invalidUTF8
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
            case .invalidScalar(let scalar):
                return "invalid character U+\(String(scalar.value, radix: 16, uppercase: true)) (not a letter, mark or digit)"
            case .invalidUTF8: return "bytes that are not UTF-8 text (an internationalised name must be saved as UTF-8)"
            case .root: return "the root name would block everything"
            }
        }
    }

    /// Parses `text` (the UTF-8 bytes of one name, no surrounding white space) into lower-case
    /// wire form, appending it to `out`. Accepts letters, digits, `-` and `_` in labels, an
    /// optional trailing dot, and a leading `*.` (which means the same as the name itself, since
    /// an entry covers everything below it). A label with non-ASCII letters is stored as the
    /// A-label a query carries (`bücher` → `xn--bcher-kva`). On failure nothing is appended.
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
        // An internationalised name's A-labels can be longer or shorter than its UTF-8 text:
        // its length is checked once it is encoded.
        if bytes.count > 253 && !bytes.contains(where: { $0 >= 0x80 }) { return .nameTooLong(bytes.count + 2) }
        if looksLikeIPv4(bytes) { return .ipAddress }

        let start = out.count
        var labelStart = bytes.startIndex
        var index = bytes.startIndex
        var international = false
        while true {
            let atEnd = index == bytes.endIndex
            if atEnd || bytes[index] == UInt8(ascii: ".") {
                let length = bytes.distance(from: labelStart, to: index)
                if length == 0 { out.removeSubrange(start...); return .emptyLabel }
                if international {
                    if let problem = appendALabel(of: bytes[labelStart..<index], to: &out) {
                        out.removeSubrange(start...)
                        return problem
                    }
                    international = false
                } else {
                    if length > 63 { out.removeSubrange(start...); return .labelTooLong(length) }
                    out.append(UInt8(length))
                    for byte in bytes[labelStart..<index] { out.append(lowercase(byte)) }
                }
                if atEnd { break }
                labelStart = bytes.index(after: index)
            } else if !isLabelByte(bytes[index]) {
                // Checked here, off the path of ASCII names: a UTF-8 label, encoded at its end.
                if bytes[index] >= 0x80 {
                    international = true
                } else {
                    let bad = Character(Unicode.Scalar(bytes[index]))
                    out.removeSubrange(start...)
                    return .invalidCharacter(bad)
                }
            }
            index = bytes.index(after: index)
        }
        out.append(0)
        if out.count - start > 255 {
            let length = out.count - start
            out.removeSubrange(start...)
            return .nameTooLong(length)
        }
        return nil
    }

    /// Appends the A-label (`xn--` and the Punycode, RFC 3492) of `label`, UTF-8 text with at
    /// least one non-ASCII byte. The text is lower-cased scalar by scalar first (`Bücher` and
    /// `bücher` are one name), which covers the Latin, Greek and Cyrillic names lists hold; the
    /// full mapping of IDNA2008 and UTS 46 (case folding, NFC normalisation, the rules on which
    /// characters may be mixed) is not done, so a name written in decomposed form (`u` and a
    /// combining diaeresis) gets a different A-label from its composed form, as it would in a
    /// client that does not normalise either.
    static func appendALabel(of label: ArraySlice<UInt8>, to out: inout [UInt8]) -> Problem? {
        var scalars: [UInt32] = []
        var iterator = label.makeIterator()
        var decoder = UTF8()
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                for lower in scalar.properties.lowercaseMapping.unicodeScalars {
                    if lower.isASCII {
                        if !isLabelByte(UInt8(lower.value)) { return .invalidCharacter(Character(lower)) }
                    } else if !isLabelScalar(lower) {
                        return .invalidScalar(lower)
                    }
                    scalars.append(lower.value)
                }
            case .emptyInput:
                break decoding
            case .error:
                return .invalidUTF8
            }
        }
        // The Kelvin sign lower-cases to `k`: a label that is ASCII once lower-cased is plain.
        let encoded = scalars.allSatisfy { $0 < 0x80 }
            ? scalars.map { UInt8($0) } : Array("xn--".utf8) + Punycode.encode(scalars)
        if encoded.count > 63 { return .labelTooLong(encoded.count) }
        out.append(UInt8(encoded.count))
        out.append(contentsOf: encoded)
        return nil
    }

    /// Letters, marks and digits: what an internationalised label is made of (not spaces,
    /// punctuation, symbols or invisible format characters, which a pasted name may carry).
    static func isLabelScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .lowercaseLetter, .uppercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
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

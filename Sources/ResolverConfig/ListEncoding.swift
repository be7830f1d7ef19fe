/// What the first bytes of a list file say about its text encoding. A list saved as UTF-16
/// (Windows Notepad's "Unicode") is readable text to a person and junk byte by byte: read as
/// UTF-8 it would be thousands of bad lines, or one, with nothing saying why. The readers refuse
/// it whole with this reason instead, and the list keeps its previous entries on a reload as any
/// list of no valid entries does.
enum ListEncoding {
    /// How many bytes at the start are looked at for the NUL bytes of UTF-16 without a mark.
    static let sniffLength = 512

    /// Why `start` (the first bytes of a file) is not UTF-8 text, or nil.
    static func problem(_ start: ArraySlice<UInt8>) -> String? {
        if start.starts(with: [0xFF, 0xFE]) { return utf16("a byte-order mark FF FE, little-endian") }
        if start.starts(with: [0xFE, 0xFF]) { return utf16("a byte-order mark FE FF, big-endian") }
        // Without a mark: ASCII in UTF-16 is every other byte NUL, which no text list has.
        let head = start.prefix(sniffLength)
        guard head.count >= 4 else { return nil }
        var evenNULs = 0
        var oddNULs = 0
        for (offset, byte) in head.enumerated() where byte == 0 {
            if offset % 2 == 0 { evenNULs += 1 } else { oddNULs += 1 }
        }
        let pairs = head.count / 2
        if oddNULs * 4 >= pairs * 3 && evenNULs * 4 < pairs {
            return utf16("no byte-order mark, NUL bytes after the characters: little-endian")
        }
        if evenNULs * 4 >= pairs * 3 && oddNULs * 4 < pairs {
            return utf16("no byte-order mark, NUL bytes before the characters: big-endian")
        }
        return nil
    }

    private static func utf16(_ evidence: String) -> String {
        "the file is UTF-16 text (\(evidence)), not read; save it as UTF-8"
    }
}

/// Cuts the bytes of a `LineListReader`'s file into lines as chunks arrive and hands each line's
/// fields to the reader. A line cut by a chunk boundary waits in `partial` for the rest, so the
/// result does not depend on how the file was cut.
///
/// Lines end in LF (Unix; Windows' CR before it is white space to `fields`), or in CR in an old
/// Mac file: one whose first chunk holding a line end has CRs and no LF (a CR-only file would
/// otherwise be one long line). One line-end byte per file keeps the search a `memchr`. A file whose first bytes are UTF-16
/// is refused whole, with one problem (`ListEncoding`).
struct ListLines<Reader: LineListReader> {
    let reader: Reader
    private var lineNumber = 0
    private var partial: [UInt8] = []
    private var lineEnd = UInt8(ascii: "\n")
    /// Set by the first chunk with a CR or an LF, which decides `lineEnd`.
    private var lineEndKnown = false
    private var started = false
    private var refused = false
    /// The line being read is longer than `maxLineBytes`: its bytes are dropped up to its end.
    private var overlong = false

    /// No list line is longer: a hosts line with dozens of names is a few kilobytes. A file with
    /// a longer one (a binary file, a gigabyte of NUL bytes without a line end) is not held
    /// whole in memory for one line: the line is skipped as one problem.
    static var maxLineBytes: Int { 65_536 }

    init(reader: Reader) {
        self.reader = reader
    }

    mutating func feed(_ chunk: ArraySlice<UInt8>, into builder: inout ListBuilder) {
        if !started {
            started = true
            // The first chunk is 4 MiB (or the whole file): enough to see how it is written.
            if let problem = ListEncoding.problem(chunk) {
                refused = true
                builder.report(line: 1, problem)
            }
        }
        if refused { return }
        if !lineEndKnown {
            if ListFile.firstIndex(of: UInt8(ascii: "\n"), in: chunk, from: chunk.startIndex) != nil {
                lineEndKnown = true
            } else if ListFile.firstIndex(of: UInt8(ascii: "\r"), in: chunk, from: chunk.startIndex) != nil {
                lineEndKnown = true
                lineEnd = UInt8(ascii: "\r")
            }
        }
        var start = chunk.startIndex
        while let end = ListFile.firstIndex(of: lineEnd, in: chunk, from: start) {
            if overlong {
                overlong = false
                skipOverlong(into: &builder)
            } else if partial.isEmpty {
                line(chunk[start..<end], into: &builder)
            } else {
                partial.append(contentsOf: chunk[start..<end])
                let whole = partial
                partial.removeAll(keepingCapacity: true)
                line(whole[...], into: &builder)
            }
            start = end + 1
        }
        if overlong { return }
        partial.append(contentsOf: chunk[start...])
        if partial.count > Self.maxLineBytes {
            overlong = true
            partial = []
        }
    }

    /// Counts and reports a line longer than `maxLineBytes`, whose bytes were not kept.
    private mutating func skipOverlong(into builder: inout ListBuilder) {
        lineNumber += 1
        builder.report(line: lineNumber, "a line of more than \(Self.maxLineBytes) bytes, which no list entry needs; skipped")
    }

    /// Reads the last line when the file does not end in a newline.
    mutating func finish(into builder: inout ListBuilder) {
        if overlong {
            overlong = false
            skipOverlong(into: &builder)
        } else if !partial.isEmpty {
            let last = partial
            partial = []
            line(last[...], into: &builder)
        }
    }

    private mutating func line(_ text: ArraySlice<UInt8>, into builder: inout ListBuilder) {
        if text.count > Self.maxLineBytes {
            skipOverlong(into: &builder)
            return
        }
        lineNumber += 1
        var content = text
        // A UTF-8 byte-order mark (files saved by some Windows editors) is not part of line 1.
        if lineNumber == 1 && content.starts(with: [0xEF, 0xBB, 0xBF]) { content = content.dropFirst(3) }
        if let hash = content.firstIndex(of: UInt8(ascii: "#")) { content = content[..<hash] }
        let fields = Self.fields(of: content)
        if fields.isEmpty { return }
        reader.readLine(fields, line: lineNumber, into: &builder)
    }

    /// Splits on spaces, tabs and carriage returns.
    static func fields(of line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var index = line.startIndex
        while index < line.endIndex {
            while index < line.endIndex && isSpace(line[index]) { index += 1 }
            let start = index
            while index < line.endIndex && !isSpace(line[index]) { index += 1 }
            if start < index { result.append(line[start..<index]) }
        }
        return result
    }

    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }
}

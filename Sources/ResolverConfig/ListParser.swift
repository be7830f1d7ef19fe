/// Turns the bytes of a `domains` or `hosts` list file into a `ParsedList`.
///
/// Works on bytes, not `String`s, so that a list of millions of lines loads in seconds. A bad
/// line never fails the list: it is skipped and recorded as a `ListProblem` with its line number.
public struct ListParser: Sendable {
    public let format: ListFormat
    /// The file name used in problems (as the operator wrote it, or the full path).
    public let fileName: String
    /// Keep each entry's line number (for `check` and `explain`; costs 4 bytes a name).
    public let recordLines: Bool
    /// How many problems are kept with their text (all are counted).
    public let problemsKept: Int

    public init(format: ListFormat, fileName: String, recordLines: Bool = false,
                problemsKept: Int = ParsedList.problemLimit) {
        precondition(format != .rpz, "RPZ zones are read by RPZParser")
        self.format = format
        self.fileName = fileName
        self.recordLines = recordLines
        self.problemsKept = problemsKept
    }

    /// Host names that every hosts file maps to itself; blocking them would break the machine.
    static let hostsFileBoilerplate: Set<[UInt8]> = Set(
        ["localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
         "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters",
         "ip6-allhosts", "0.0.0.0"].map { Array($0.utf8) }
    )

    /// Parses a whole file held in memory.
    public func parse(_ bytes: [UInt8]) -> ParsedList {
        var newlines = 0
        for byte in bytes where byte == UInt8(ascii: "\n") { newlines += 1 }
        var state = State(parser: self, capacity: bytes.count + newlines + 2)
        state.feed(bytes[...])
        return state.finish()
    }

    /// Parses the file at `path` a chunk at a time, so that a list of millions of names never sits
    /// in memory twice (file bytes and parsed names) while the policy in service holds its own.
    /// `sizeHint` and `lineHint` (from `ListFile.scan`) size the name arena exactly.
    public func parseFile(at path: String, sizeHint: Int, lineHint: Int) throws(ListFile.ReadError) -> ParsedList {
        var state = State(parser: self, capacity: sizeHint + lineHint + 2)
        try ListFile.forEachChunk(path: path, displayName: fileName) { chunk in state.feed(chunk) }
        return state.finish()
    }

    /// The parse in progress: complete lines are handled as they arrive; a line cut by a chunk
    /// boundary waits in `partial` for the rest.
    struct State {
        let parser: ListParser
        var arena: [UInt8] = []
        var lines: [UInt32] = []
        var count = 0
        var problems: [ListProblem] = []
        var problemCount = 0
        var ignored = 0
        var lineNumber = 0
        var partial: [UInt8] = []

        init(parser: ListParser, capacity: Int) {
            self.parser = parser
            // A name of n characters takes n + 2 bytes in wire form, its line n + 1: reserve exactly.
            arena.reserveCapacity(capacity)
        }

        mutating func feed(_ chunk: ArraySlice<UInt8>) {
            var start = chunk.startIndex
            while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
                if partial.isEmpty {
                    line(chunk[start..<newline])
                } else {
                    partial.append(contentsOf: chunk[start..<newline])
                    let whole = partial
                    partial.removeAll(keepingCapacity: true)
                    line(whole[...])
                }
                start = newline + 1
            }
            partial.append(contentsOf: chunk[start...])
        }

        mutating func finish() -> ParsedList {
            if !partial.isEmpty {
                let last = partial
                partial = []
                line(last[...])
            }
            return ParsedList(arena: arena, count: count, lines: lines, problems: problems,
                              problemCount: problemCount, ignoredCount: ignored)
        }

        mutating func report(_ reason: String) {
            problemCount += 1
            if problems.count < parser.problemsKept {
                problems.append(ListProblem(file: parser.fileName, line: lineNumber, reason: reason))
            }
        }

        mutating func addName(_ token: ArraySlice<UInt8>) {
            if let problem = DomainName.appendWireForm(of: token, to: &arena) {
                report("\(problem): \(ListParser.quoted(token))")
            } else {
                count += 1
                if parser.recordLines { lines.append(UInt32(truncatingIfNeeded: lineNumber)) }
            }
        }

        mutating func line(_ text: ArraySlice<UInt8>) {
            lineNumber += 1
            var content = text
            // A UTF-8 byte-order mark (files saved by some Windows editors) is not part of line 1.
            if lineNumber == 1 && content.starts(with: [0xEF, 0xBB, 0xBF]) { content = content.dropFirst(3) }
            if let hash = content.firstIndex(of: UInt8(ascii: "#")) { content = content[..<hash] }
            let tokens = ListParser.tokens(of: content)
            if tokens.isEmpty { return }

            switch parser.format {
            case .rpz:
                preconditionFailure("RPZ zones are read by RPZParser")  // checked in init
            case .domains:
                if tokens.count > 1 {
                    report("more than one name on the line (a hosts file? use format: hosts)")
                    return
                }
                addName(tokens[0])
            case .hosts:
                if tokens.count == 1 {
                    report("no address before the name (a domains file? use format: domains)")
                    return
                }
                if !ListParser.looksLikeAddress(tokens[0]) {
                    report("first field \(ListParser.quoted(tokens[0])) is not an IP address")
                    return
                }
                for token in tokens.dropFirst() {
                    var bare = token
                    if bare.count > 1 && bare.last == UInt8(ascii: ".") { bare = bare.dropLast() }
                    if ListParser.hostsFileBoilerplate.contains(Array(bare).map(DomainName.lowercase)) {
                        ignored += 1
                    } else {
                        addName(token)
                    }
                }
            }
        }
    }

    /// Splits on spaces, tabs and carriage returns.
    static func tokens(of line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
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

    /// An IPv4 or IPv6 address as hosts files write them; only the shape is checked, since the
    /// address itself is not used (the sinkhole is configured per resolver).
    static func looksLikeAddress(_ token: ArraySlice<UInt8>) -> Bool {
        if token.contains(UInt8(ascii: ":")) {
            return token.allSatisfy { byte in
                byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
                    || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66)
            }
        }
        return DomainName.looksLikeIPv4(token)
    }

    /// The token in double quotes for a problem report; bytes outside printable ASCII as `\xNN`.
    static func quoted(_ token: ArraySlice<UInt8>) -> String {
        var text = "\""
        for byte in token.prefix(80) {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): text += "\\" + String(UnicodeScalar(byte))
            case 0x20..<0x7F: text.unicodeScalars.append(UnicodeScalar(byte))
            default: text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return text + (token.count > 80 ? "…\"" : "\"")
    }
}

/// A list format of lines of fields (`domains`, `hosts`, `ips`): `#` comments, blank lines, fields
/// split on white space. `ListLines` cuts the bytes into lines, a chunk at a time and without a
/// `String` per line, so that a list of millions of lines loads in seconds; the format only says
/// what the fields of one line mean.
///
/// A bad line never fails the list: the reader records it as a problem with its line number.
public protocol LineListReader: ListReader {
    /// Reads the fields of one line that holds more than a comment. `line` counts from 1.
    func readLine(_ fields: [ArraySlice<UInt8>], line: Int, into builder: inout ListBuilder)

    /// The arena bytes to reserve for a file of `size` bytes and `newlines` line ends: enough for
    /// every ASCII name it can hold, and no more, since the capacity stays with the parsed list.
    /// (An internationalised name's A-labels can be longer than its UTF-8 text; the arena of a
    /// list of many grows.)
    static func arenaCapacity(size: Int, newlines: Int) -> Int
}

extension LineListReader {
    /// A name of n characters takes n + 2 bytes in wire form and its line n + 1 (its newline),
    /// and a file may end without one: this bound is exact for a list of one name a line.
    public static func arenaCapacity(size: Int, newlines: Int) -> Int {
        size + newlines + 2
    }

    public func read(_ bytes: [UInt8], into builder: inout ListBuilder) {
        var lineEnds = ListFile.LineEndCounter()
        lineEnds.add(bytes[...])
        builder.reserveArena(Self.arenaCapacity(size: bytes.count, newlines: lineEnds.count))
        var lines = ListLines(reader: self)
        lines.feed(bytes[...], into: &builder)
        lines.finish(into: &builder)
    }

    /// Scans the file (hash and newlines) without keeping it: `read` goes through it again a
    /// chunk at a time, so that its text and its names are never in memory together while the
    /// policy in service holds its own.
    public func open(_ path: String, displayName: String) throws(ListFile.ReadError) -> ListSource {
        let scan = try ListFile.scan(path: path, displayName: displayName)
        return .scanned(path: path, displayName: displayName, identity: scan.identity, newlines: scan.newlines)
    }

    public func read(_ source: ListSource, into builder: inout ListBuilder) throws(ListFile.ReadError) {
        switch source {
        case .loaded(let file):
            read(file.bytes, into: &builder)
        case .scanned(let path, let displayName, let identity, let newlines):
            builder.reserveArena(Self.arenaCapacity(size: identity.size, newlines: newlines))
            var lines = ListLines(reader: self)
            try ListFile.forEachChunk(path: path, displayName: displayName) { chunk in
                lines.feed(chunk, into: &builder)
            }
            lines.finish(into: &builder)
        }
    }
}

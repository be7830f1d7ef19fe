/// Reads a `domains` list: one name per line, `#` comments and blank lines (the ministry's
/// published format). Each name blocks (or allows) itself and every name below it.
public struct DomainsReader: LineListReader {
    public init() {}

    public init(_ list: ListSettings) {}

    public func readLine(_ fields: [ArraySlice<UInt8>], line: Int, into builder: inout ListBuilder) {
        if fields.count > 1 {
            builder.report(line: line, "more than one name on the line (a hosts file? use format: hosts)")
            return
        }
        builder.addName(fields[0], line: line)
    }
}

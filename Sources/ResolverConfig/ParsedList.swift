/// The names of one list file, parsed and validated, in a compact form.
///
/// Names are kept back to back in wire form in one byte array (`arena`), because a list can hold
/// millions of names and a `[String]` would cost ten times the memory. The value is immutable,
/// so a reload that finds the file unchanged can hand the same instance to the next policy.
public final class ParsedList: Sendable {
    /// Wire-form, lower-case names, concatenated; each is self-delimiting (ends in a zero byte).
    public let arena: [UInt8]
    /// Number of names in `arena` (duplicates included).
    public let count: Int
    /// The first `ParsedList.problemLimit` problems, in file order.
    public let problems: [ListProblem]
    /// All problems, including those past the limit.
    public let problemCount: Int
    /// Lines that held a name but were skipped silently (`localhost` in a hosts file).
    public let ignoredCount: Int

    /// How many problems are kept with their text; the rest are only counted.
    public static let problemLimit = 10_000

    init(arena: [UInt8], count: Int, problems: [ListProblem], problemCount: Int, ignoredCount: Int) {
        self.arena = arena
        self.count = count
        self.problems = problems
        self.problemCount = problemCount
        self.ignoredCount = ignoredCount
    }

    /// Calls `body` with the byte range of each name in `arena`, in file order.
    public func forEachName(_ body: (Range<Int>) throws -> Void) rethrows {
        var start = 0
        while start < arena.count {
            var end = start
            while arena[end] != 0 { end += Int(arena[end]) + 1 }
            try body(start..<(end + 1))
            start = end + 1
        }
    }
}

/// Reads the lists of one format (or from one kind of source) into a `ListBuilder`.
///
/// Every format has its reader, and `ListFormat.readerType` is the one place a format is tied to
/// it: a new format or source is a new conforming type plus one line there. Readers only turn
/// their input into entries and problems; the builder keeps the entries in the form the policy
/// indexes, so that every format costs the same per name once read.
///
/// Reading a file is two steps, `open` then `read`, so that `PolicyLoader` can compare the
/// file's identity with the policy in service and skip the parse of an unchanged file.
public protocol ListReader: Sendable {
    /// The reader of `list`, with whatever of its settings the format needs (an RPZ origin).
    init(_ list: ListSettings)

    /// Whether entries carry rules of their own (RPZ trigger kinds and actions), which `check`
    /// reports by kind; false when every entry takes the list's action.
    static var hasRulePerEntry: Bool { get }

    /// Reads a whole list held in memory.
    func read(_ bytes: [UInt8], into builder: inout ListBuilder)

    /// Identifies the file at `path` (a content hash needs every byte) and keeps what `read`
    /// needs of it next: the bytes themselves, or only a scan's counts for a streamed format.
    func open(_ path: String, displayName: String) throws(ListFile.ReadError) -> ListSource

    /// Reads a file that `open` identified.
    func read(_ source: ListSource, into builder: inout ListBuilder) throws(ListFile.ReadError)
}

extension ListReader {
    public static var hasRulePerEntry: Bool { false }

    /// By default the file is read whole and parsed from memory (ldns reads RPZ records one at a
    /// time from a `FILE`, so a streamed read would gain nothing there).
    public func open(_ path: String, displayName: String) throws(ListFile.ReadError) -> ListSource {
        .loaded(try ListFile.read(path: path, displayName: displayName))
    }

    public func read(_ source: ListSource, into builder: inout ListBuilder) throws(ListFile.ReadError) {
        switch source {
        case .loaded(let file):
            read(file.bytes, into: &builder)
        case .scanned(let path, let displayName, _, _):
            read(try ListFile.read(path: path, displayName: displayName).bytes, into: &builder)
        }
    }

    /// Reads `bytes` into a new builder and returns the list: for reports and tests.
    public func parse(_ bytes: [UInt8], fileName: String, recordLines: Bool = false,
                      problemsKept: Int = ParsedList.problemLimit) -> ParsedList {
        var builder = ListBuilder(fileName: fileName, recordLines: recordLines, problemsKept: problemsKept)
        read(bytes, into: &builder)
        return builder.finish()
    }
}

extension ListSettings {
    /// The reader of this list, made from its format and settings.
    public var reader: any ListReader {
        format.readerType.init(self)
    }
}

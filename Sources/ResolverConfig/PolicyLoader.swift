import Foundation

/// Loads every list of a config into a `CompiledPolicy`, reusing the parse of any file whose
/// size, mtime and content hash are unchanged since `previous` was built.
///
/// A list file that cannot be read fails the whole load: serving a policy with a list missing
/// would unblock its names (fail open), so the caller keeps the previous policy instead.
public struct PolicyLoader: Sendable {
    /// How many problems of each list are kept with their text: all that `check` prints, or only
    /// the few a server logs (a million-line list with a percent of junk would otherwise keep
    /// ten thousand messages in memory for as long as it serves).
    public let problemsKept: Int

    public init(problemsKept: Int = ParsedList.problemLimit) {
        self.problemsKept = problemsKept
    }

    /// Parses a list file's bytes in its format; `recordLines` keeps line numbers for reports.
    public static func parse(_ bytes: [UInt8], list: ListSettings, recordLines: Bool = false,
                             problemsKept: Int = ParsedList.problemLimit) -> ParsedList {
        list.reader.parse(bytes, fileName: list.pathAsWritten, recordLines: recordLines, problemsKept: problemsKept)
    }

    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    /// One list: reused when its file is unchanged, else read by its format's reader (which
    /// decides how: domain and hosts files a chunk at a time, RPZ zones from memory).
    private func load(_ list: ListSettings, previous: CompiledPolicy?,
                      started: UInt64) throws(ListFile.ReadError) -> LoadedList {
        let reader = list.reader
        let source = try reader.open(list.path, displayName: list.pathAsWritten)
        if let old = previous?.lists.first(where: {
            $0.settings.path == list.path && $0.settings.format == list.format && $0.settings.origin == list.origin
                && $0.identity == source.identity
        }) {
            return LoadedList(settings: list, parsed: old.parsed, identity: old.identity, loadSeconds: 0, reused: true)
        }
        var builder = ListBuilder(fileName: list.pathAsWritten, problemsKept: problemsKept)
        try reader.read(source, into: &builder)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return LoadedList(settings: list, parsed: builder.finish(), identity: source.identity, loadSeconds: seconds,
                          reused: false)
    }

    public func load(_ settings: ResolverSettings,
                     previous: CompiledPolicy? = nil) throws(LoadError) -> CompiledPolicy {
        var loaded: [LoadedList] = []
        for list in settings.lists {
            let started = DispatchTime.now().uptimeNanoseconds
            do {
                loaded.append(try load(list, previous: previous, started: started))
            } catch {
                throw LoadError(message: "list \(list.name): cannot read \(error)")
            }
        }
        if let previous, previous.lists.count == loaded.count, previous.precedence == settings.precedence,
           zip(previous.lists, loaded).allSatisfy({ $0.parsed === $1.parsed && $0.settings == $1.settings }) {
            return previous  // nothing changed: keep the index too
        }
        do {
            return try CompiledPolicy(lists: loaded, precedence: settings.precedence)
        } catch {
            throw LoadError(message: "cannot index the lists: \(error)")
        }
    }
}

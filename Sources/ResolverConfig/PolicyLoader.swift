import Foundation

/// Loads every list of a config into a `CompiledPolicy`, reusing the parse of any file whose
/// size, mtime and content hash are unchanged since `previous` was built.
///
/// A list file that cannot be read fails the whole load: serving a policy with a list missing
/// would unblock its names (fail open), so the caller keeps the previous policy instead.
public struct PolicyLoader: Sendable {
    public init() {}

    /// Parses a list file's bytes in its format; `recordLines` keeps line numbers for reports.
    public static func parse(_ bytes: [UInt8], list: ListSettings, recordLines: Bool = false) -> ParsedList {
        switch list.format {
        case .rpz:
            return RPZParser(fileName: list.pathAsWritten, recordLines: recordLines, origin: list.origin).parse(bytes)
        case .domains, .hosts:
            return ListParser(format: list.format, fileName: list.pathAsWritten, recordLines: recordLines).parse(bytes)
        }
    }

    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    public func load(_ settings: ResolverSettings, previous: CompiledPolicy? = nil) throws(LoadError) -> CompiledPolicy {
        var loaded: [LoadedList] = []
        for list in settings.lists {
            let started = DispatchTime.now().uptimeNanoseconds
            let file: ListFile
            do {
                file = try ListFile.read(path: list.path, displayName: list.pathAsWritten)
            } catch {
                throw LoadError(message: "list \(list.name): cannot read \(error)")
            }
            if let old = previous?.lists.first(where: {
                $0.settings.path == list.path && $0.settings.format == list.format && $0.identity == file.identity
            }) {
                loaded.append(LoadedList(settings: list, parsed: old.parsed, identity: old.identity,
                                         loadSeconds: 0, reused: true))
                continue
            }
            let parsed = Self.parse(file.bytes, list: list)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            loaded.append(LoadedList(settings: list, parsed: parsed, identity: file.identity,
                                     loadSeconds: seconds, reused: false))
        }
        if let previous, previous.lists.count == loaded.count,
           zip(previous.lists, loaded).allSatisfy({ $0.parsed === $1.parsed && $0.settings == $1.settings }) {
            return previous  // nothing changed: keep the index too
        }
        do {
            return try CompiledPolicy(lists: loaded)
        } catch {
            throw LoadError(message: "cannot index the lists: \(error)")
        }
    }
}

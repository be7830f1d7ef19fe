import Foundation

/// Loads every list of a config into a `CompiledPolicy`, reusing the parse of any file whose
/// size, mtime and content hash are unchanged since `previous` was built.
///
/// A list file that cannot be read fails the whole load: serving a policy with a list missing
/// would unblock its names (fail open), so the caller keeps the previous policy instead.
/// A file that is read but is not a list to serve (`fault`: junk, or emptied) fails closed for
/// that list alone: it keeps the entries it had in `previous`, and the rest of the load goes on,
/// so one broken download neither unblocks its names nor holds back every other list's update.
public struct PolicyLoader: Sendable {
    /// How many problems of each list are kept with their text: all that `check` prints, or only
    /// the few a server logs (a million-line list with a percent of junk would otherwise keep
    /// ten thousand messages in memory for as long as it serves).
    public let problemsKept: Int

    public init(problemsKept: Int = ParsedList.problemLimit) {
        self.problemsKept = problemsKept
    }

    /// Reads the list file of `list` as `run` does (domain and hosts files a chunk at a time, so
    /// a huge file is never in memory whole), keeping line numbers for reports (`check`,
    /// `explain`): one reader for both, at the same cost.
    public static func read(_ list: ListSettings, recordLines: Bool = true,
                            problemsKept: Int = ParsedList.problemLimit)
        throws(ListFile.ReadError) -> (parsed: ParsedList, identity: ListFile.Identity) {
        let reader = list.reader
        let source = try reader.open(list.path, displayName: list.pathAsWritten)
        var builder = ListBuilder(fileName: list.pathAsWritten, recordLines: recordLines, problemsKept: problemsKept)
        try reader.read(source, into: &builder)
        return (builder.finish(), source.identity)
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

    /// Why `parsed`, read for `list`, is not a list to serve; nil when it is. A file is refused
    /// when it is mostly junk (more skipped lines than entries, which includes a file of junk
    /// alone, such as a binary file or an HTML error page), when it has more skipped lines than
    /// `max_bad_lines`, and, when the list served `previousEntries` entries until now, when it
    /// has no entry at all: a truncated or emptied download looks exactly like that (but an RPZ
    /// zone that still has its SOA is a whole zone emptied on purpose). An empty file on its own
    /// is no fault, as an allow list may be empty on purpose.
    public static func fault(of parsed: ParsedList, list: ListSettings, previousEntries: Int = 0) -> String? {
        let entries = parsed.entryTotal
        let skipped = parsed.problemCount
        if entries == 0 && skipped > 0 { return "no valid entries, \(skipped) skipped lines" }
        let limit = list.badLineLimit(entries: entries)
        if skipped > limit {
            let rule = list.maxBadLines == nil ? "the default, 1% of the entries and at least 1000: " : ""
            return "\(skipped) skipped lines, more than max_bad_lines (\(rule)\(limit))"
        }
        if skipped > entries { return "more skipped lines (\(skipped)) than entries (\(entries))" }
        // An RPZ zone with its SOA and no triggers is an emptied policy, taken as BIND and PowerDNS take it.
        if entries == 0 && previousEntries > 0 && !parsed.isWholeZone {
            return "no entries (an empty file, or only comments) where there were \(previousEntries)"
        }
        return nil
    }

    /// One list: reused when its file is unchanged, else read by its format's reader (which
    /// decides how: domain and hosts files a chunk at a time, RPZ zones from memory). A file
    /// read anew with a `fault` gives way to the list of the same name in `previous`, whose
    /// parse and identity are kept. That identity is the one of the file those entries came
    /// from, never the broken file's: the broken file is not taken for unchanged later, so every
    /// reload parses and reports it again, and takes it as soon as it is fixed.
    private func load(_ list: ListSettings, previous: CompiledPolicy?, prepared: [String: (ParsedList, ListFile.Identity)],
                      started: UInt64) throws(ListFile.ReadError) -> LoadedList {
        let reader = list.reader
        let before = previous?.lists.first { $0.settings.name == list.name }
        let source: ListSource
        do {
            source = try reader.open(list.path, displayName: list.pathAsWritten)
        } catch where (list.transfer != nil || list.fetch != nil) && !fileExists(list.path) {
            // A transferred zone or a downloaded list before its first transfer or download has
            // no copy yet: nothing to serve until one comes (or what it served so far, on a reload).
            if let before {
                return LoadedList(settings: list, parsed: before.parsed, identity: before.identity, loadSeconds: 0,
                                  reused: true, fault: before.fault, keptPrevious: before.keptPrevious)
            }
            let empty = ListBuilder(fileName: list.pathAsWritten, problemsKept: problemsKept).finish()
            return LoadedList(settings: list, parsed: empty, identity: Self.noCopy, loadSeconds: 0, reused: false,
                              fault: Self.noCopyFault(list))
        }
        if let (parsed, identity) = prepared[list.name], identity == source.identity {
            // Parsed and judged already (a download, before its rename): not parsed twice.
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            return LoadedList(settings: list, parsed: parsed, identity: identity, loadSeconds: seconds, reused: false,
                              fault: Self.fault(of: parsed, list: list, previousEntries: before?.parsed.entryTotal ?? 0))
        }
        if let old = previous?.lists.first(where: {
            $0.settings.path == list.path && $0.settings.format == list.format && $0.settings.origin == list.origin
                && $0.identity == source.identity
        }) {
            return LoadedList(settings: list, parsed: old.parsed, identity: old.identity, loadSeconds: 0, reused: true,
                              fault: Self.fault(of: old.parsed, list: list,
                                                previousEntries: before?.parsed.entryTotal ?? 0))
        }
        var builder = ListBuilder(fileName: list.pathAsWritten, problemsKept: problemsKept)
        try reader.read(source, into: &builder)
        let parsed = builder.finish()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let fault = Self.fault(of: parsed, list: list, previousEntries: before?.parsed.entryTotal ?? 0)
        if let fault, let before {
            return LoadedList(settings: list, parsed: before.parsed, identity: before.identity, loadSeconds: seconds,
                              reused: false, fault: fault, keptPrevious: true)
        }
        return LoadedList(settings: list, parsed: parsed, identity: source.identity, loadSeconds: seconds,
                          reused: false, fault: fault)
    }

    /// The identity of a transferred zone's or a downloaded list's copy that is not there yet.
    public static let noCopy = ListFile.Identity(size: -1, modified: timespec(), contentHash: 0)

    /// The fault of a list served empty because its copy is not there yet.
    public static func noCopyFault(_ list: ListSettings) -> String {
        list.fetch != nil
            ? "no copy of the list yet (\(list.pathAsWritten)); it is EMPTY until the first download succeeds"
            : "no copy of the zone yet; waiting for the first transfer from its primary"
    }

    private func fileExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The lists of `settings`; with `previous`, the policy in service, unchanged files are not
    /// parsed again and a list whose file has a `fault` keeps its entries (`LoadedList.keptPrevious`).
    /// Without it (at start) there is nothing to keep: such a list loads as read, with its fault.
    /// `prepared`: lists by name already parsed from the file that is now at their path, with
    /// that file's identity (a download parsed before it was renamed into place).
    public func load(_ settings: ResolverSettings, previous: CompiledPolicy? = nil,
                     prepared: [String: (ParsedList, ListFile.Identity)] = [:]) throws(LoadError) -> CompiledPolicy {
        var loaded: [LoadedList] = []
        for list in settings.lists {
            let started = DispatchTime.now().uptimeNanoseconds
            do {
                loaded.append(try load(list, previous: previous, prepared: prepared, started: started))
            } catch {
                throw LoadError(message: "list \(list.name): cannot read \(error)")
            }
        }
        if let previous, previous.lists.count == loaded.count, previous.precedence == settings.precedence,
           zip(previous.lists, loaded).allSatisfy({
               $0.parsed === $1.parsed && $0.settings == $1.settings && $0.fault == $1.fault
                   && $0.keptPrevious == $1.keptPrevious
           }) {
            return previous  // nothing changed: keep the index too
        }
        do {
            return try CompiledPolicy(lists: loaded, precedence: settings.precedence)
        } catch {
            throw LoadError(message: "cannot index the lists: \(error)")
        }
    }
}

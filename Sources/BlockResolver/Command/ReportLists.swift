import Foundation
import ResolverConfig

/// The lists of a config read for a report (`check`, `explain`): with line numbers, every list
/// attempted even when one fails, and the failures kept as messages.
struct ReportLists {
    var loaded: [LoadedList] = []
    var failures: [String] = []

    init(_ settings: ResolverSettings) {
        for list in settings.lists {
            do {
                let (parsed, identity) = try PolicyLoader.read(list)
                loaded.append(LoadedList(settings: list, parsed: parsed, identity: identity, loadSeconds: 0,
                                         reused: false))
            } catch where (list.transfer != nil || list.fetch != nil) && !FileManager.default.fileExists(atPath: list.path) {
                // A transferred zone before its first transfer, a downloaded list before its first
                // download: `run` serves it empty and brings it from the primary or the server.
                let empty = ListBuilder(fileName: list.pathAsWritten).finish()
                loaded.append(LoadedList(settings: list, parsed: empty, identity: ListFile.Identity(
                    size: -1, modified: timespec(), contentHash: 0), loadSeconds: 0, reused: false))
            } catch {
                failures.append("list \(list.name): cannot read \(error)")
            }
        }
    }

    /// The file lines of every entry of `list` whose name equals `name` (wire form) with `rule`.
    static func lines(of name: ArraySlice<UInt8>, rule: Int, in list: LoadedList) -> [Int] {
        var result: [Int] = []
        let parsed = list.parsed
        parsed.forEachName { index, range in
            guard range.count == name.count, parsed.ruleIndex(ofEntry: index) == rule,
                  parsed.arena[range].elementsEqual(name)
            else { return }
            result.append(index < parsed.lines.count ? Int(parsed.lines[index]) : 0)
        }
        return result
    }
}

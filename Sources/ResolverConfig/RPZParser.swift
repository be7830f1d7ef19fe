import CLdns
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads an RPZ zone (the RPZ draft, as BIND, Unbound and PowerDNS use it) into a `ParsedList`,
/// one record at a time with ldns's zone-file reader (`$ORIGIN`, `$TTL`, relative names,
/// comments, parentheses), so a zone of millions of records is never held whole.
///
/// QNAME triggers only: `name` (that name only) and `*.name` (the names below it). Triggers it
/// does not implement (`rpz-ip`, `rpz-nsdname`, `rpz-nsip`, `rpz-client-ip`) are counted in
/// `unsupportedTriggers` and skipped, never applied as something else. The SOA and the NS records
/// at the apex are zone data, not triggers.
public struct RPZParser: Sendable {
    public let fileName: String
    public let recordLines: Bool
    /// The zone's name when the file has neither `$ORIGIN` nor a SOA owned by an absolute name.
    public let origin: String?
    /// How many problems are kept with their text (all are counted).
    public let problemsKept: Int

    public init(fileName: String, recordLines: Bool = false, origin: String? = nil,
                problemsKept: Int = ParsedList.problemLimit) {
        self.fileName = fileName
        self.recordLines = recordLines
        self.origin = origin
        self.problemsKept = problemsKept
    }

    static let unsupportedLabels = ["rpz-ip", "rpz-nsdname", "rpz-nsip", "rpz-client-ip"]
    static let typeSOA: UInt16 = 6
    static let typeNS: UInt16 = 2
    static let typeCNAME: UInt16 = 5

    /// Parses the zone text in `bytes`.
    public func parse(_ bytes: [UInt8]) -> ParsedList {
        var state = State(fileName: fileName, recordLines: recordLines, problemsKept: problemsKept)
        if bytes.isEmpty { return state.finish() }
        var copy = bytes  // fmemopen wants a mutable buffer; it only reads it in "r" mode
        copy.withUnsafeMutableBytes { buffer in
            // fmemopen gives ldns a FILE over the bytes already read (and hashed) by the caller.
            guard let file = fmemopen(buffer.baseAddress, buffer.count, "r") else {
                state.report(line: 0, "cannot read the zone: \(String(cString: strerror(errno)))")
                return
            }
            defer { fclose(file) }
            var lines = LineCursor(bytes: bytes)
            read(file, lines: &lines, into: &state)
        }
        return state.finish()
    }

    /// Finds the line a record starts on. ldns counts the lines it has consumed, which can include
    /// blank lines after the record; the record itself is the first line after the previous
    /// call's count that holds more than white space and a comment.
    struct LineCursor {
        let bytes: [UInt8]
        var line = 1
        var offset = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        mutating func firstContentLine(after consumed: Int) -> Int {
            while line <= consumed && offset < bytes.count { advance() }
            while offset < bytes.count && isBlankOrComment() { advance() }
            return line
        }

        private mutating func advance() {
            while offset < bytes.count && bytes[offset] != UInt8(ascii: "\n") { offset += 1 }
            offset += 1
            line += 1
        }

        private func isBlankOrComment() -> Bool {
            var index = offset
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): index += 1
                case UInt8(ascii: "\n"), UInt8(ascii: ";"): return true
                default: return false
                }
            }
            return true
        }
    }

    private func read(_ file: UnsafeMutablePointer<FILE>, lines: inout LineCursor, into state: inout State) {
        var ttl: UInt32 = 3600
        var originRDF: UnsafeMutablePointer<ldns_rdf>? = nil
        var previous: UnsafeMutablePointer<ldns_rdf>? = nil
        var line: Int32 = 0
        defer {
            if let originRDF { ldns_rdf_deep_free(originRDF) }
            if let previous { ldns_rdf_deep_free(previous) }
        }
        if let origin, let rdf = ldns_dname_new_frm_str(origin.hasSuffix(".") ? origin : origin + ".") {
            originRDF = rdf
            state.apex = Self.lowercasedWire(rdf)
        }
        while feof(file) == 0 {
            var record: UnsafeMutablePointer<ldns_rr>? = nil
            let before = Int(line)
            let status = ldns_rr_new_frm_fp_l(&record, file, &ttl, &originRDF, &previous, &line)
            let recordLine = lines.firstContentLine(after: before)
            switch status {
            case LDNS_STATUS_OK:
                guard let record else { continue }
                state.add(record, line: recordLine)
                ldns_rr_free(record)
            case LDNS_STATUS_SYNTAX_EMPTY, LDNS_STATUS_SYNTAX_TTL, LDNS_STATUS_SYNTAX_ORIGIN:
                continue
            case LDNS_STATUS_SYNTAX_INCLUDE:
                state.report(line: recordLine, "$INCLUDE is not supported; list the included zone separately")
            default:
                let text = ldns_get_errorstr_by_id(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
                state.report(line: recordLine, "not a valid zone-file record: \(text)")
            }
        }
        state.flush()
    }

    static func lowercasedWire(_ rdf: UnsafePointer<ldns_rdf>) -> [UInt8] {
        guard let data = ldns_rdf_data(rdf) else { return [0] }
        return UnsafeBufferPointer(start: data, count: ldns_rdf_size(rdf)).map(DomainName.lowercase)
    }

    /// Accumulates the records of one owner name, then turns them into one entry.
    struct State {
        let fileName: String
        let recordLines: Bool
        var apex: [UInt8]? = nil
        var arena: [UInt8] = []
        var count = 0
        var rules: [EntryRule] = []
        var ruleIndex: [EntryRule: UInt32] = [:]
        var entryRules: [UInt32] = []
        var lines: [UInt32] = []
        var problems: [ListProblem] = []
        var problemCount = 0
        var unsupported: [String: Int] = [:]
        // The owner being accumulated.
        var owner: [UInt8]? = nil
        var ownerLine = 0
        var actions: [EntryRule.Action] = []
        var local: [LocalRecord] = []

        let problemsKept: Int

        init(fileName: String, recordLines: Bool, problemsKept: Int) {
            self.fileName = fileName
            self.recordLines = recordLines
            self.problemsKept = problemsKept
        }

        mutating func report(line: Int, _ reason: String) {
            problemCount += 1
            if problems.count < problemsKept {
                problems.append(ListProblem(file: fileName, line: line, reason: reason))
            }
        }

        mutating func add(_ record: UnsafeMutablePointer<ldns_rr>, line: Int) {
            guard let ownerRDF = ldns_rr_owner(record) else { return }
            let name = RPZParser.lowercasedWire(ownerRDF)
            let type = UInt16(ldns_rr_get_type(record).rawValue)
            if type == RPZParser.typeSOA {
                if apex == nil { apex = name }
                if name == apex { return }
            }
            guard let apex else {
                report(line: line, "record before the zone's SOA (and no `origin:` in the config)")
                return
            }
            if name == apex {
                if type != RPZParser.typeNS { report(line: line, "record at the zone apex is not a trigger") }
                return
            }
            if name != owner {
                flush()
                owner = name
                ownerLine = line
            }
            if type == RPZParser.typeCNAME, let target = ldns_rr_rdf(record, 0) {
                let wire = RPZParser.lowercasedWire(target)
                switch wire {
                case [0]: actions.append(.nxdomain); return
                case [1, UInt8(ascii: "*"), 0]: actions.append(.nodata); return
                case RPZParser.wire("rpz-passthru"): actions.append(.passthru); return
                case RPZParser.wire("rpz-drop"): actions.append(.drop); return
                case RPZParser.wire("rpz-tcp-only"): actions.append(.tcpOnly); return
                default: break
                }
            }
            guard let localRecord = RPZParser.localRecord(record, ownerSize: ldns_rdf_size(ownerRDF), type: type) else {
                report(line: line, "cannot serialise this record")
                return
            }
            local.append(localRecord)
        }

        /// Turns the accumulated owner into an entry.
        mutating func flush() {
            guard let owner, let apex else { return }
            defer {
                self.owner = nil
                actions = []
                local = []
            }
            guard let relativeEnd = RPZParser.labelsAbove(apex, in: owner) else {
                report(line: ownerLine, "\(DomainName.presentation(ofWire: owner)) is outside the zone "
                       + DomainName.presentation(ofWire: apex))
                return
            }
            // The label right above the apex says which kind of trigger this is.
            var labels: [Range<Int>] = []
            var index = 0
            while index < relativeEnd {
                let length = Int(owner[index])
                labels.append((index + 1)..<(index + 1 + length))
                index += length + 1
            }
            if let last = labels.last {
                let label = String(decoding: owner[last], as: UTF8.self)
                if RPZParser.unsupportedLabels.contains(label) {
                    unsupported[label, default: 0] += 1
                    return
                }
            }
            var scope = EntryRule.Scope.nameOnly
            var start = 0
            if labels.count > 1, owner[labels[0]].elementsEqual([UInt8(ascii: "*")]) {
                scope = .belowOnly
                start = labels[1].lowerBound - 1
            } else if labels.count == 1, owner[labels[0]].elementsEqual([UInt8(ascii: "*")]) {
                report(line: ownerLine, "a wildcard of the whole zone would block everything; skipped")
                return
            }
            let action: EntryRule.Action
            if let first = actions.first {
                if actions.count > 1 || !local.isEmpty {
                    report(line: ownerLine, "several actions for one trigger; using the first (\(first))")
                }
                action = first
            } else {
                action = .localData(local)
            }
            let rule = EntryRule(scope: scope, action: action)
            let id: UInt32
            if let known = ruleIndex[rule] {
                id = known
            } else {
                id = UInt32(rules.count)
                rules.append(rule)
                ruleIndex[rule] = id
            }
            arena.append(contentsOf: owner[start..<relativeEnd])
            arena.append(0)
            entryRules.append(id)
            if recordLines { lines.append(UInt32(truncatingIfNeeded: ownerLine)) }
            count += 1
        }

        func finish() -> ParsedList {
            ParsedList(arena: arena, count: count, rules: rules.isEmpty ? [.wholeSubtree] : rules,
                       entryRules: entryRules, lines: lines, problems: problems, problemCount: problemCount,
                       unsupportedTriggers: unsupported)
        }
    }

    /// Where `apex` starts inside `name` (both wire form), when `name` is strictly below it.
    static func labelsAbove(_ apex: [UInt8], in name: [UInt8]) -> Int? {
        var index = 0
        while index < name.count && name[index] != 0 {
            index += Int(name[index]) + 1
            if name.count - index == apex.count && name[index...].elementsEqual(apex) { return index }
        }
        return nil
    }

    static func wire(_ label: String) -> [UInt8] {
        [UInt8(label.utf8.count)] + Array(label.utf8) + [0]
    }

    static func localRecord(_ record: UnsafeMutablePointer<ldns_rr>, ownerSize: Int, type: UInt16) -> LocalRecord? {
        var data: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        guard ldns_rr2wire(&data, record, Int32(LDNS_SECTION_ANSWER.rawValue), &size) == LDNS_STATUS_OK,
              let data, size > ownerSize
        else { return nil }
        defer { free(data) }  // ldns_rr2wire allocates with malloc
        // ldns_rr2wire writes the owner uncompressed: drop it, keep a root owner in its place.
        let wire = [0] + Array(UnsafeBufferPointer(start: data + ownerSize, count: size - ownerSize))
        var text = ""
        if let string = ldns_rr2str(record) {
            text = String(cString: string)
            free(string)  // ldns_rr2str allocates with malloc
        }
        // Keep "TTL CLASS TYPE DATA": the owner is the query name when answered.
        let fields = text.split(separator: "\t", maxSplits: 1)
        let shown = fields.count == 2 ? String(fields[1]) : text
        return LocalRecord(type: type, wireWithRootOwner: wire,
                           text: shown.trimmingCharacters(in: .newlines).replacingOccurrences(of: "\t", with: " "))
    }
}

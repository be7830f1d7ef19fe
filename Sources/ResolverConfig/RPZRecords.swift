import CLdns
import Foundation

/// The records of an RPZ zone, as ldns hands them over in file order, gathered by owner name:
/// the records of one owner become one trigger entry of a `ListBuilder`.
///
/// QNAME triggers only: `name` (that name only) and `*.name` (the names below it). Triggers this
/// resolver does not implement (`rpz-ip`, `rpz-nsdname`, `rpz-nsip`, `rpz-client-ip`) are counted
/// as unsupported and skipped, never applied as something else. The SOA and the NS records at the
/// apex are zone data, not triggers.
struct RPZRecords {
    static let unsupportedLabels = ["rpz-ip", "rpz-nsdname", "rpz-nsip", "rpz-client-ip"]
    static let typeSOA: UInt16 = 6
    static let typeNS: UInt16 = 2
    static let typeCNAME: UInt16 = 5

    /// The zone's name in wire form: from the config's origin, else the first SOA's owner.
    var apex: [UInt8]? = nil
    // The owner being gathered.
    private var owner: [UInt8]? = nil
    private var ownerLine = 0
    private var actions: [EntryRule.Action] = []
    private var local: [LocalRecord] = []

    mutating func add(_ record: UnsafeMutablePointer<ldns_rr>, line: Int, into builder: inout ListBuilder) {
        guard let ownerRDF = ldns_rr_owner(record) else { return }
        let name = Self.lowercasedWire(ownerRDF)
        let type = UInt16(ldns_rr_get_type(record).rawValue)
        if type == Self.typeSOA {
            if apex == nil { apex = name }
            if name == apex { return }
        }
        guard let apex else {
            builder.report(line: line, "record before the zone's SOA (and no `origin:` in the config)")
            return
        }
        if name == apex {
            if type != Self.typeNS { builder.report(line: line, "record at the zone apex is not a trigger") }
            return
        }
        if name != owner {
            flush(into: &builder)
            owner = name
            ownerLine = line
        }
        if type == Self.typeCNAME, let target = ldns_rr_rdf(record, 0) {
            switch Self.lowercasedWire(target) {
            case [0]: actions.append(.nxdomain); return
            case [1, UInt8(ascii: "*"), 0]: actions.append(.nodata); return
            case Self.wire("rpz-passthru"): actions.append(.passthru); return
            case Self.wire("rpz-drop"): actions.append(.drop); return
            case Self.wire("rpz-tcp-only"): actions.append(.tcpOnly); return
            default: break
            }
        }
        guard let localRecord = Self.localRecord(record, ownerSize: ldns_rdf_size(ownerRDF), type: type) else {
            builder.report(line: line, "cannot serialise this record")
            return
        }
        local.append(localRecord)
    }

    /// Turns the gathered owner into an entry; called on a new owner and at the end of the zone.
    mutating func flush(into builder: inout ListBuilder) {
        guard let owner, let apex else { return }
        defer {
            self.owner = nil
            actions = []
            local = []
        }
        guard let relativeEnd = Self.labelsAbove(apex, in: owner) else {
            builder.report(line: ownerLine, "\(DomainName.presentation(ofWire: owner)) is outside the zone "
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
            if Self.unsupportedLabels.contains(label) {
                builder.countUnsupported(trigger: label)
                return
            }
        }
        var scope = EntryRule.Scope.nameOnly
        var start = 0
        if labels.count > 1, owner[labels[0]].elementsEqual([UInt8(ascii: "*")]) {
            scope = .belowOnly
            start = labels[1].lowerBound - 1
        } else if labels.count == 1, owner[labels[0]].elementsEqual([UInt8(ascii: "*")]) {
            builder.report(line: ownerLine, "a wildcard of the whole zone would block everything; skipped")
            return
        }
        let action: EntryRule.Action
        if let first = actions.first {
            if actions.count > 1 || !local.isEmpty {
                builder.report(line: ownerLine, "several actions for one trigger; using the first (\(first))")
            }
            action = first
        } else {
            action = .localData(local)
        }
        builder.addEntry(labels: owner[start..<relativeEnd], rule: EntryRule(scope: scope, action: action),
                         line: ownerLine)
    }

    static func lowercasedWire(_ rdf: UnsafePointer<ldns_rdf>) -> [UInt8] {
        guard let data = ldns_rdf_data(rdf) else { return [0] }
        return UnsafeBufferPointer(start: data, count: ldns_rdf_size(rdf)).map(DomainName.lowercase)
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

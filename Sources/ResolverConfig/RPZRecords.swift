import CLdns
import Foundation

/// The records of an RPZ zone, as ldns hands them over in file order, gathered by owner name:
/// the records of one owner become one trigger entry of a `ListBuilder`.
///
/// QNAME triggers (`name`: that name only; `*.name`: the names below it) become name entries;
/// `rpz-ip` (an address of the answer) and `rpz-client-ip` (the client's address) triggers become
/// address entries. `rpz-nsdname` and `rpz-nsip` judge the name servers of a delegation, which a
/// forwarder never sees: they are counted as unsupported and skipped, never applied as something
/// else. The SOA and the NS records at the apex are zone data, not triggers.
///
/// A master file may split one owner's records (`a A …`, `b A …`, `a MX …`, RFC 1035 5.1 does not
/// ask for them to be together): a later group of an owner whose entry holds local data joins
/// that data. Only such owners are remembered; a national zone of millions of `CNAME .` entries
/// keeps no map of its names.
struct RPZRecords {
    static let unsupportedLabels = ["rpz-nsdname", "rpz-nsip"]
    /// The address triggers, by the label right above the apex.
    static let addressLabels: [String: AddressTrigger] = ["rpz-ip": .answer, "rpz-client-ip": .client]
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

    /// An entry already made whose action is local data, for records of its owner that come later.
    private struct LocalEntry {
        enum Place {
            case name(Int)
            case address(Int)
        }

        let place: Place
        let scope: EntryRule.Scope
        let line: Int
        var records: [LocalRecord]
    }

    /// The entries with local data, by owner (wire form).
    private var localOwners: [[UInt8]: LocalEntry] = [:]

    mutating func add(_ record: UnsafeMutablePointer<ldns_rr>, line: Int, into builder: inout ListBuilder) {
        guard let ownerRDF = ldns_rr_owner(record) else { return }
        let name = Self.lowercasedWire(ownerRDF)
        let type = UInt16(ldns_rr_get_type(record).rawValue)
        if type == Self.typeSOA {
            if apex == nil { apex = name }
            if name == apex {
                builder.markWholeZone()
                return
            }
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
        if !localOwners.isEmpty, let earlier = localOwners[owner] {
            join(earlier, owner: owner, into: &builder)
            return
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
            if let trigger = Self.addressLabels[label] {
                addAddress(labels.dropLast().map { owner[$0] }, trigger: trigger, kind: label, into: &builder)
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
        let action = gatheredAction(into: &builder)
        builder.addEntry(labels: owner[start..<relativeEnd], rule: EntryRule(scope: scope, action: action),
                         line: ownerLine)
        if case .localData(let records) = action {
            localOwners[owner] = LocalEntry(place: .name(builder.count - 1), scope: scope, line: ownerLine,
                                            records: records)
        }
    }

    /// The action of the gathered records: the first of the `CNAME` actions, else the local data.
    private func gatheredAction(into builder: inout ListBuilder) -> EntryRule.Action {
        guard let first = actions.first else { return .localData(local) }
        if actions.count > 1 || !local.isEmpty {
            builder.report(line: ownerLine, "several actions for one trigger; using the first (\(first))")
        }
        return first
    }

    /// Adds the gathered records of an `rpz-ip` or `rpz-client-ip` owner; `labels` are the
    /// owner's labels below the trigger label. Scope `nameAndBelow`: a prefix covers every
    /// address inside it, as an `ips` entry does.
    private mutating func addAddress(_ labels: [ArraySlice<UInt8>], trigger: AddressTrigger, kind: String,
                                     into builder: inout ListBuilder) {
        let cidr: CIDR
        switch Self.addressPrefix(labels) {
        case .success(let prefix):
            cidr = prefix
        case .failure(let problem):
            let text = (labels.map { String(decoding: $0, as: UTF8.self) } + [kind]).joined(separator: ".")
            builder.report(line: ownerLine, "\(kind) trigger \(text): \(problem.reason)")
            return
        }
        let action = gatheredAction(into: &builder)
        builder.addAddress(cidr, trigger: trigger, rule: EntryRule(scope: .nameAndBelow, action: action),
                           line: ownerLine)
        if case .localData(let records) = action, let owner {
            localOwners[owner] = LocalEntry(place: .address(builder.addressCount - 1), scope: .nameAndBelow,
                                            line: ownerLine, records: records)
        }
    }

    /// Adds the gathered records of an owner seen before to the local data of its entry. A `CNAME`
    /// action there would contradict that data: it is reported and skipped, the earlier entry
    /// standing as it would have without this group.
    private mutating func join(_ earlier: LocalEntry, owner: [UInt8], into builder: inout ListBuilder) {
        if !actions.isEmpty {
            builder.report(line: ownerLine, "\(DomainName.presentation(ofWire: owner)) already has local data "
                           + "from line \(earlier.line); this action is skipped")
            return
        }
        var joined = earlier
        joined.records += local
        let rule = EntryRule(scope: earlier.scope, action: .localData(joined.records))
        switch earlier.place {
        case .name(let index): builder.setRule(ofEntry: index, rule)
        case .address(let index): builder.setRule(ofAddress: index, rule)
        }
        localOwners[owner] = joined
    }

    /// Why an address trigger's owner names no prefix, for the problem report.
    struct TriggerProblem: Error {
        let reason: String
    }

    /// The prefix an `rpz-ip` or `rpz-client-ip` owner names (the RPZ draft, "IP address
    /// triggers"). `labels` are the owner's labels below the trigger label: the prefix length,
    /// then the address in reverse order: 4 decimal octets for IPv4 (`24.0.2.0.192`), else IPv6
    /// groups in hex with `zz` for the one run of zero groups left out (`128.1.zz.3.2.2001` is
    /// 2001:2:3::1/128). Four labels none of which is `zz` are IPv4, as BIND reads them. As BIND
    /// does, a prefix with address bits set beyond its length is refused: the zone's author meant
    /// something else, and guessing which would apply a different prefix than the one written.
    static func addressPrefix(_ labels: [ArraySlice<UInt8>]) -> Result<CIDR, TriggerProblem> {
        func failure(_ reason: String) -> Result<CIDR, TriggerProblem> { .failure(TriggerProblem(reason: reason)) }
        guard labels.count >= 2 else { return failure("not <prefix length>.<address in reverse order>") }
        guard let length = decimal(labels[0]) else {
            return failure("prefix length \(ListBuilder.quoted(labels[0])) is not a number")
        }
        let parts = Array(labels.dropFirst().reversed())
        let zz = Array("zz".utf8)
        let runs = parts.filter { $0.elementsEqual(zz) }.count
        if parts.count == 4 && runs == 0 {
            var bytes: [UInt8] = []
            for part in parts {
                guard let octet = decimal(part), octet <= 255 else {
                    return failure("\(ListBuilder.quoted(part)) is not an IPv4 octet (0-255)")
                }
                bytes.append(UInt8(octet))
            }
            return checked(bytes, length: length)
        }
        if runs > 1 { return failure("more than one zz (only one run of zero groups can be left out)") }
        guard runs == 1 ? parts.count <= 8 : parts.count == 8 else {
            return failure("\(parts.count) address labels: 4 octets for IPv4, or 8 groups for IPv6 (fewer with zz)")
        }
        var bytes: [UInt8] = []
        for part in parts {
            if part.elementsEqual(zz) {
                bytes += [UInt8](repeating: 0, count: 2 * (9 - parts.count))
                continue
            }
            guard let group = hexGroup(part) else {
                return failure("\(ListBuilder.quoted(part)) is not an IPv6 group (1 to 4 hex digits)")
            }
            bytes += [UInt8(group >> 8), UInt8(group & 0xFF)]
        }
        return checked(bytes, length: length)
    }

    /// The prefix of `bytes` and `length`, when the length fits the family and no address bit
    /// beyond it is set.
    private static func checked(_ bytes: [UInt8], length: Int) -> Result<CIDR, TriggerProblem> {
        let bits = bytes.count * 8
        guard (1...bits).contains(length) else {
            return .failure(TriggerProblem(reason: "prefix length \(length) is out of range 1...\(bits) for an "
                                           + (bits == 32 ? "IPv4" : "IPv6") + " address"))
        }
        let cidr = CIDR(network: bytes, prefix: length)
        guard cidr.network == bytes else {
            let address = CIDR(network: bytes, prefix: bits).description.prefix { $0 != "/" }
            return .failure(TriggerProblem(reason: "address \(address) has bits set beyond its /\(length) prefix "
                                           + "(meant \(cidr)? BIND refuses such a trigger too)"))
        }
        return .success(cidr)
    }

    /// A decimal label of 1 to 3 digits.
    private static func decimal(_ label: ArraySlice<UInt8>) -> Int? {
        guard (1...3).contains(label.count) else { return nil }
        var value = 0
        for byte in label {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    /// A label of 1 to 4 hex digits (owners are lower case already).
    private static func hexGroup(_ label: ArraySlice<UInt8>) -> UInt16? {
        guard (1...4).contains(label.count) else { return nil }
        var value: UInt16 = 0
        for byte in label {
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
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

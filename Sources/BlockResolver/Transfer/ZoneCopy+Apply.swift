import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An IXFR applied to the copy on disk, streaming: the differences are folded into the records to
/// drop and to add (as many as the delta has), then the old copy is read a line at a time and
/// written anew without the dropped ones and with the added ones at the end. The zone is never
/// held in memory, and no line is parsed by ldns: a record's key (its text with TTL 0, as
/// `TransferMessage` makes it) is cut from the line ldns wrote.
extension ZoneCopy {
    /// The records `differences` drop from and add to the zone, checked as far as they can be
    /// without the copy: serials in a chain from `serial`, nothing deleted twice.
    struct Folded {
        /// Keys to drop from the copy; true when the copy must hold the record (else the
        /// difference deleted a record a difference before it had added).
        var dropped: [String: Bool] = [:]
        /// Records to write at the end, by key, in the order first added.
        var added: [String: Record] = [:]
        var order: [String] = []
        var soa: Record
        var changed = 0

        init(_ differences: [ZoneTransfer.Difference], serial: UInt32, soa: Record) throws(Failure) {
            self.soa = soa
            var at = serial
            for difference in differences {
                guard difference.from == at else {
                    throw Failure(description: "a difference from serial \(difference.from) does not fit the copy at serial \(at)")
                }
                for record in difference.deleted where record.soaSerial == nil {
                    if added.removeValue(forKey: record.key) != nil {
                        // Added by an earlier difference; the copy may hold it too (an addition of
                        // what was there), so it is dropped from the copy if it is there.
                        if dropped[record.key] == nil { dropped[record.key] = false }
                    } else if dropped[record.key] != nil {
                        throw Failure(description: "a difference deletes a record the zone does not have: \(record.line)")
                    } else {
                        dropped[record.key] = true
                    }
                    changed += 1
                }
                for record in difference.added where record.soaSerial == nil {
                    if added.updateValue(record, forKey: record.key) == nil { order.append(record.key) }
                    changed += 1
                }
                self.soa = difference.soa
                at = difference.to
            }
        }
    }

    /// Applies IXFR `differences` to the copy at `path` and writes the result in its place; throws
    /// (and leaves the copy as it was) when a difference does not fit: it starts from another
    /// serial, or deletes a record the zone does not have. Returns the records changed.
    static func apply(_ differences: [ZoneTransfer.Difference], zone: String, to path: String) throws(Failure) -> Int {
        guard let header = header(path: path) else { throw Failure(description: "\(path) is not a zone copy") }
        guard let first = differences.first else { return 0 }
        var folded = try Folded(differences, serial: header.serial, soa: first.soa)
        guard let file = fopen(path, "r") else {
            throw Failure(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        let writer = try Writer(path: path, zone: zone, soa: folded.soa)
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }  // getline allocates with malloc
        var number = 0
        // Only the lines whose owner the delta touches (or the apex, for the old SOA) are cut into
        // a key: for the rest, the owner up to the first tab is looked up, not the whole line.
        let apex = zone.lowercased().hasSuffix(".") ? zone.lowercased() : zone.lowercased() + "."
        var owners: Set<String> = [apex]
        for key in Array(folded.dropped.keys) + folded.order {
            owners.insert(String(key.prefix { $0 != "\t" }))
        }
        while getline(&line, &capacity, file) > 0, let line {
            number += 1
            if line[0] == CChar(UInt8(ascii: ";")) || line[0] == CChar(UInt8(ascii: "\n")) { continue }
            guard let tab = strchr(line, 9) else {
                throw Failure(description: "\(path):\(number): not a record as a transfer writes it")
            }
            let owner = UnsafeRawBufferPointer(start: line, count: line.distance(to: tab))
            if !owners.contains(String(decoding: owner, as: UTF8.self)) {
                try writer.add(line: line)
                continue
            }
            guard let (key, type) = Self.keyAndType(line) else {
                throw Failure(description: "\(path):\(number): not a record as a transfer writes it")
            }
            if type == "SOA" { continue }  // the old SOA: the writer has the new one
            if folded.dropped.removeValue(forKey: key) != nil { continue }
            if folded.added[key] != nil { continue }  // written once, at the end, as the delta has it
            try writer.add(line: line)
        }
        if let missing = folded.dropped.first(where: { $0.value }) {
            throw Failure(description: "a difference deletes a record the zone does not have: \(missing.key)")
        }
        for key in folded.order {
            if let record = folded.added[key] { try writer.add(record) }
        }
        try writer.commit()
        return folded.changed
    }

    /// The key of a copy's line (owner, TTL 0, the rest: what `TransferMessage` makes of the
    /// record) and its type; nil for a line that is not "owner TAB ttl TAB class TAB type TAB data".
    static func keyAndType(_ line: UnsafePointer<CChar>) -> (String, Substring)? {
        let text = String(cString: line)
        let trimmed = text.hasSuffix("\n") ? text.dropLast() : Substring(text)
        let fields = trimmed.split(separator: "\t", maxSplits: 4, omittingEmptySubsequences: false)
        guard fields.count >= 4, fields[1].allSatisfy(\.isNumber) else { return nil }
        return (fields[0] + "\t0\t" + fields[2...].joined(separator: "\t"), fields[3])
    }
}

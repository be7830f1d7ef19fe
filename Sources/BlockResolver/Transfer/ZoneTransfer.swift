import ResolverConfig

/// One exchange with a primary over TCP: a SOA check, an AXFR (RFC 5936) or an IXFR (RFC 1995),
/// read to its end and checked as a whole. Nothing is applied here: a stream cut in the middle,
/// a reply that does not verify or does not end as the protocol says throws, and the caller
/// keeps the zone it has.
struct ZoneTransfer {
    let zone: String
    let key: TransferMessage.Key?
    let timeoutSeconds: Int

    typealias Record = TransferMessage.TransferRecord

    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// The primary answered, but cannot give a delta (IXFR refused, not implemented, or a
        /// delta that does not fit the copy): an AXFR may still work.
        var wantsFullTransfer = false
    }

    /// One step of an IXFR: from the zone at `from` to the zone at `to` (`soa`).
    struct Difference: Sendable {
        let from: UInt32
        let to: UInt32
        let soa: Record
        var deleted: [Record] = []
        var added: [Record] = []
    }

    enum Result {
        /// The primary's serial is the one asked from.
        case current(soa: Record)
        /// The whole zone, already written to the copy writer handed to `transfer` (not yet committed).
        case full(soa: Record, records: Int)
        /// The differences, in order, to the primary's serial.
        case incremental(soa: Record, differences: [Difference])
    }

    /// The primary's SOA record.
    func soa(from address: HostPort) throws(Failure) -> Record {
        let replies = try exchange(address, kind: .soa, serial: 0, single: true)
        guard let soa = replies.first?.records.first(where: { $0.soaSerial != nil }) else {
            throw Failure(description: "\(address) gave no SOA record for \(zone)")
        }
        return soa
    }

    /// How far a transfer's stream has been read.
    private enum Stream {
        /// Nothing yet, or only the first SOA.
        case start
        /// A whole zone (an AXFR, or an IXFR answered with one): ends at the SOA of the first.
        case full
        /// An IXFR's deletions (after a difference's old SOA), then its additions (after its new SOA).
        case deleting, adding
        case ended
    }

    /// An AXFR, or with `serial` an IXFR from it (which the primary may answer with the whole zone).
    ///
    /// A whole zone goes a record at a time into a `ZoneCopy.Writer` for `copyPath` (made once the
    /// stream is known to be one), so it is never held in memory; an IXFR's differences are kept.
    func transfer(from address: HostPort, serial: UInt32?, copyPath: String) throws -> Result {
        let kind: TransferMessage.Kind = serial == nil ? .axfr : .ixfr
        var records: [Record] = []
        var newest: UInt32 = 0
        var stream = Stream.start
        let connection = try connect(address)
        let request = try makeRequest(kind, serial: serial ?? 0)
        do { try connection.send(request.wire) } catch { throw Failure(description: error.description) }
        var previousMAC = request.mac
        var first = true
        var writer: ZoneCopy.Writer? = nil
        var fullCount = 0
        while stream != .ended {
            let reply = try read(connection, request, &previousMAC, first: &first, kind: kind)
            for record in reply.records {
                if stream == .ended { throw Failure(description: "\(address) sent records after the end of the transfer") }
                if records.isEmpty {
                    guard let soaSerial = record.soaSerial else {
                        throw Failure(description: "\(address) sent a transfer that does not start with the zone's SOA")
                    }
                    newest = soaSerial
                    records.append(record)
                    continue
                }
                if stream == .full {
                    if record.soaSerial == newest {
                        stream = .ended
                    } else {
                        try writer?.add(record)
                        fullCount += 1
                    }
                    continue
                }
                records.append(record)
                switch stream {
                case .start:
                    // The second record: a SOA opens an IXFR's first difference (old serial), or
                    // closes a whole zone that has nothing but its SOA; anything else is a whole zone.
                    if let soaSerial = record.soaSerial {
                        stream = kind == .ixfr && soaSerial != newest ? .deleting : .ended
                        if stream == .ended { writer = try ZoneCopy.Writer(path: copyPath, zone: zone, soa: records[0]) }
                    } else {
                        stream = .full
                        writer = try ZoneCopy.Writer(path: copyPath, zone: zone, soa: records[0])
                        try writer?.add(record)
                        fullCount = 2
                    }
                case .full:
                    break
                case .deleting:
                    if record.soaSerial != nil { stream = .adding }
                case .adding:
                    if let soaSerial = record.soaSerial { stream = soaSerial == newest ? .ended : .deleting }
                case .ended:
                    break
                }
            }
            // An IXFR answered with its one SOA: the zone has not changed since the serial asked from.
            if kind == .ixfr && records.count == 1 && stream == .start { stream = .ended }
        }
        if let writer {
            try writer.commit()
            return .full(soa: records[0], records: max(fullCount, 1))
        }
        if records.count == 1 { return .current(soa: records[0]) }
        return .incremental(soa: records[0], differences: try differences(records, address: address))
    }

    /// Cuts an IXFR's records (new SOA, then per difference: old SOA, deletions, new SOA,
    /// additions, then the new SOA again) into differences.
    private func differences(_ records: [Record], address: HostPort) throws(Failure) -> [Difference] {
        var result: [Difference] = []
        var index = 1
        let last = records.count - 1
        while index < last {
            guard let from = records[index].soaSerial else {
                throw Failure(description: "\(address) sent an IXFR difference that does not start with a SOA")
            }
            index += 1
            var deleted: [Record] = []
            while index < last, records[index].soaSerial == nil { deleted.append(records[index]); index += 1 }
            guard index < last, let to = records[index].soaSerial else {
                throw Failure(description: "\(address) sent an IXFR difference without its new SOA")
            }
            var difference = Difference(from: from, to: to, soa: records[index], deleted: deleted)
            index += 1
            while index < last, records[index].soaSerial == nil { difference.added.append(records[index]); index += 1 }
            result.append(difference)
        }
        return result
    }

    private func connect(_ address: HostPort) throws(Failure) -> TransferConnection {
        do { return try TransferConnection(to: address, timeoutSeconds: timeoutSeconds) } catch {
            throw Failure(description: error.description)
        }
    }

    private func makeRequest(_ kind: TransferMessage.Kind, serial: UInt32) throws(Failure) -> TransferMessage.Request {
        do { return try TransferMessage.request(zone: zone, kind: kind, serial: serial, key: key) } catch {
            throw Failure(description: "\(error)")
        }
    }

    /// Reads one reply and checks its rcode and signature.
    private func read(_ connection: TransferConnection, _ request: TransferMessage.Request, _ previousMAC: inout [UInt8]?,
                      first: inout Bool, kind: TransferMessage.Kind) throws(Failure) -> TransferMessage.Reply {
        let wire: [UInt8]
        do { wire = try connection.receive() } catch { throw Failure(description: error.description) }
        let reply: TransferMessage.Reply
        do {
            reply = try TransferMessage.reply(wire, to: request, key: key, previousMAC: previousMAC, first: first)
        } catch {
            throw Failure(description: "\(connection.address): \(error)")
        }
        first = false
        previousMAC = reply.mac ?? previousMAC
        if reply.rcode != 0 {
            let name = DNSRcodeName.name(reply.rcode)
            // A primary without IXFR (NOTIMP, FORMERR) or one refusing it may still give an AXFR.
            throw Failure(description: "\(connection.address) answered \(kind) with \(name)",
                          wantsFullTransfer: kind == .ixfr)
        }
        if reply.records.isEmpty { throw Failure(description: "\(connection.address) sent an empty \(kind) reply") }
        return reply
    }

    /// One SOA query's replies.
    private func exchange(_ address: HostPort, kind: TransferMessage.Kind, serial: UInt32,
                          single: Bool) throws(Failure) -> [TransferMessage.Reply] {
        let connection = try connect(address)
        let request = try makeRequest(kind, serial: serial)
        do { try connection.send(request.wire) } catch { throw Failure(description: error.description) }
        var previousMAC = request.mac
        var first = true
        return [try read(connection, request, &previousMAC, first: &first, kind: kind)]
    }
}

/// Names of the response codes a primary answers a transfer with, for messages.
enum DNSRcodeName {
    static func name(_ rcode: UInt8) -> String {
        switch rcode {
        case 1: return "FORMERR"
        case 2: return "SERVFAIL"
        case 3: return "NXDOMAIN"
        case 4: return "NOTIMP"
        case 5: return "REFUSED"
        case 9: return "NOTAUTH"
        default: return "rcode \(rcode)"
        }
    }
}

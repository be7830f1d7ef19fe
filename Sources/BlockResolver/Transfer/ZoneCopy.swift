import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The last good copy of a transferred zone, the file at the list's `path`: one record a line as
/// ldns writes it (absolute names), the SOA first, under a header line naming the zone and its
/// serial. The policy is read from it by the ordinary RPZ reader; a transfer writes it to a
/// temporary file beside it and renames that over it, so a crash never leaves half a zone.
enum ZoneCopy {
    typealias Record = TransferMessage.TransferRecord

    static let headerPrefix = "; block-resolver zone copy: "

    /// What the header of the copy at `path` says: the zone and its serial, and the SOA's refresh
    /// and retry; nil when there is no copy, or it is not one a transfer wrote (a zone file put
    /// there by hand is served, but the next transfer is a whole one).
    struct Header: Equatable {
        let zone: String
        let serial: UInt32
        let refresh: UInt32
        let retry: UInt32
    }

    static func header(path: String) -> Header? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 1024)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        return header(line: String(cString: buffer))
    }

    static func header(line: String) -> Header? {
        guard line.hasPrefix(headerPrefix) else { return nil }
        let words = line.dropFirst(headerPrefix.count).split(whereSeparator: { $0 == " " || $0 == "\n" })
        // "<zone> serial <n> refresh <n> retry <n>"
        guard words.count >= 7, words[1] == "serial", let serial = UInt32(words[2]), words[3] == "refresh",
              let refresh = UInt32(words[4]), words[5] == "retry", let retry = UInt32(words[6])
        else { return nil }
        return Header(zone: String(words[0]), serial: serial, refresh: refresh, retry: retry)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Writes `soa` and `records` (the SOA among them is skipped) as the copy at `path`.
    static func write(zone: String, soa: Record, records: some Sequence<Record>, to path: String) throws(Failure) {
        let writer = try Writer(path: path, zone: zone, soa: soa)
        for record in records { try writer.add(record) }
        try writer.commit()
    }

    /// A new copy being written: to `path.tmp`, a record at a time as a transfer brings it (a
    /// zone of millions of records is never held in memory), flushed to disk and renamed over
    /// `path` by `commit`. Dropped without `commit` (a transfer that failed), the temporary file
    /// is removed and the copy at `path` is untouched.
    final class Writer {
        let path: String
        let temporary: String
        private var file: UnsafeMutablePointer<FILE>?
        private(set) var count = 0

        init(path: String, zone: String, soa: Record) throws(Failure) {
            self.path = path
            temporary = path + ".tmp"
            guard let file = fopen(temporary, "w") else {
                throw Failure(description: "cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            self.file = file
            let head = "\(headerPrefix)\(zone) serial \(soa.soaSerial ?? 0) refresh \(soa.soaRefresh ?? 0) "
                + "retry \(soa.soaRetry ?? 0)\n\(soa.line)\n"
            if fputs(head, file) < 0 { throw failure() }
        }

        /// Adds a line of an older copy as it is (it ends in its line end).
        func add(line: UnsafePointer<CChar>) throws(Failure) {
            guard let file else { return }
            if fputs(line, file) < 0 { throw failure() }
            count += 1
        }

        /// Adds a record; a SOA is skipped (the copy has its SOA at the top).
        func add(_ record: Record) throws(Failure) {
            guard record.soaSerial == nil, let file else { return }
            if fputs(record.line, file) < 0 || fputc(10, file) < 0 { throw failure() }
            count += 1
        }

        func commit() throws(Failure) {
            guard let file else { return }
            let flushed = fflush(file) == 0 && fsync(fileno(file)) == 0
            let reason = String(cString: strerror(errno))
            fclose(file)
            self.file = nil
            guard flushed else {
                unlink(temporary)
                throw Failure(description: "cannot write \(temporary): \(reason)")
            }
            if rename(temporary, path) != 0 {
                let reason = String(cString: strerror(errno))
                unlink(temporary)
                throw Failure(description: "cannot rename \(temporary) to \(path): \(reason)")
            }
        }

        private func failure() -> Failure {
            Failure(description: "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }

        deinit {
            if let file {
                fclose(file)
                unlink(temporary)
            }
        }
    }

    /// The records of the copy at `path`, in file order, keyed by their text without TTL; nil for a
    /// copy without a header.
    static func records(path: String) throws(Failure) -> (soa: Record, keys: [String], byKey: [String: Record]) {
        guard let file = fopen(path, "r") else {
            throw Failure(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var keys: [String] = []
        var byKey: [String: Record] = [:]
        var soa: Record? = nil
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }  // getline allocates with malloc
        var number = 0
        while getline(&line, &capacity, file) > 0, let line {
            number += 1
            let text = String(cString: line)
            if text.hasPrefix(";") || text.allSatisfy(\.isWhitespace) { continue }
            guard let record = TransferMessage.record(line: text) else {
                throw Failure(description: "\(path):\(number): not a record as a transfer writes it")
            }
            if record.soaSerial != nil {
                soa = record
                continue
            }
            if byKey.updateValue(record, forKey: record.key) == nil { keys.append(record.key) }
        }
        guard let soa else { throw Failure(description: "\(path) has no SOA record") }
        return (soa, keys, byKey)
    }
}

import CLdns
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Reads an RPZ zone (the RPZ draft, as BIND, Unbound and PowerDNS use it) one record at a time
/// with ldns's zone-file reader (`$ORIGIN`, `$TTL`, relative names, comments, parentheses), and
/// hands the records to `RPZRecords`, which turns them into trigger entries.
///
/// The file is read whole (the default `open`) because ldns reads from a `FILE` anyway; the
/// records themselves are never all held at once.
public struct RPZReader: ListReader {
    /// The zone's name when the file has neither `$ORIGIN` nor a SOA owned by an absolute name.
    public let origin: String?

    public init(origin: String? = nil) {
        self.origin = origin
    }

    public init(_ list: ListSettings) {
        self.init(origin: list.origin)
    }

    public static var hasRulePerEntry: Bool { true }

    public func read(_ bytes: [UInt8], into builder: inout ListBuilder) {
        if bytes.isEmpty { return }
        if let problem = ListEncoding.problem(bytes[...]) {
            builder.report(line: 1, problem)
            return
        }
        var copy = bytes  // fmemopen wants a mutable buffer; it only reads it in "r" mode
        copy.withUnsafeMutableBytes { buffer in
            // fmemopen gives ldns a FILE over the bytes already read (and hashed) by the caller.
            guard let file = fmemopen(buffer.baseAddress, buffer.count, "r") else {
                builder.report(line: 0, "cannot read the zone: \(String(cString: strerror(errno)))")
                return
            }
            defer { fclose(file) }
            var lines = RPZLineCursor(bytes: bytes)
            read(file, lines: &lines, into: &builder)
        }
    }

    private func read(_ file: UnsafeMutablePointer<FILE>, lines: inout RPZLineCursor,
                      into builder: inout ListBuilder) {
        var ttl: UInt32 = 3600
        var originRDF: UnsafeMutablePointer<ldns_rdf>? = nil
        var previous: UnsafeMutablePointer<ldns_rdf>? = nil
        var line: Int32 = 0
        defer {
            if let originRDF { ldns_rdf_deep_free(originRDF) }
            if let previous { ldns_rdf_deep_free(previous) }
        }
        var records = RPZRecords()
        if let origin, let rdf = ldns_dname_new_frm_str(origin.hasSuffix(".") ? origin : origin + ".") {
            originRDF = rdf
            records.apex = RPZRecords.lowercasedWire(rdf)
        }
        while feof(file) == 0 {
            var record: UnsafeMutablePointer<ldns_rr>? = nil
            let before = Int(line)
            let status = ldns_rr_new_frm_fp_l(&record, file, &ttl, &originRDF, &previous, &line)
            let recordLine = lines.firstContentLine(after: before)
            // A `(` never closed makes ldns read the rest of the file as one record, which it
            // refuses or (a TXT record takes any words) accepts. Only the record that reached the
            // end of the file can be one: the bytes are scanned once at most.
            if feof(file) != 0, let opened = lines.unclosedParenthesis() {
                if let record { ldns_rr_free(record) }
                builder.report(line: opened, "a '(' that is never closed: the records from here to the end of the file are not read")
                continue
            }
            switch status {
            case LDNS_STATUS_OK:
                guard let record else { continue }
                records.add(record, line: recordLine, into: &builder)
                ldns_rr_free(record)
            case LDNS_STATUS_SYNTAX_EMPTY, LDNS_STATUS_SYNTAX_TTL, LDNS_STATUS_SYNTAX_ORIGIN:
                continue
            case LDNS_STATUS_SYNTAX_INCLUDE:
                builder.report(line: recordLine, "$INCLUDE is not supported; list the included zone separately")
            default:
                let text = ldns_get_errorstr_by_id(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
                builder.report(line: recordLine, "not a valid zone-file record: \(text)")
            }
        }
        records.flush(into: &builder)
    }
}

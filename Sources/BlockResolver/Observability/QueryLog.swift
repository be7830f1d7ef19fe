import Atomics
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import ResolverConfig

/// The query log (`query_log:`): one JSON object per line with time, client, protocol, name,
/// type, outcome, list, rcode and latency; for a query a list decided, also the kind of trigger
/// (`qname`, `cname`, `ip`, `client`) and what matched (the listed name, the chain's name, the
/// answer's address, the client's address).
///
/// Concurrency model: each event loop appends records to its own bounded buffer (a lock that only
/// the writer thread ever contends for, every 50 ms); a dedicated writer thread swaps the buffers
/// out, formats and writes them. A query never waits for the disk: when a buffer is full the
/// record is counted as dropped instead. SIGUSR1 asks the writer to reopen the file (logrotate).
final class QueryLog: Sendable {
    enum Mode: String, Sendable, CaseIterable {
        case off, blocked, all
    }

    struct Record: Sendable {
        let time: Double
        let client: SocketAddress?
        let transport: Transport
        let name: [UInt8]
        let type: UInt16
        let outcome: QueryOutcome
        let list: String?
        /// The kind of trigger and what matched, when a list decided.
        let trigger: String?
        let matched: String?
        let rcode: UInt8?
        let latencyMicroseconds: Int64
    }

    /// One loop's records waiting for the writer.
    final class Buffer: Sendable {
        fileprivate let records = NIOLockedValueBox<[Record]>([])
        fileprivate let dropped = ManagedAtomic<Int>(0)
        let capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
        }

        func append(_ record: Record) {
            let added = records.withLockedValue { records -> Bool in
                guard records.count < capacity else { return false }
                records.append(record)
                return true
            }
            if !added { dropped.wrappingIncrement(ordering: .relaxed) }
        }
    }

    let mode: Mode
    let path: String
    private let buffers: [Buffer]
    private let reopenRequested = ManagedAtomic<Bool>(false)
    private let stopRequested = ManagedAtomic<Bool>(false)
    private let stopped = ManagedAtomic<Bool>(false)
    /// Records dropped because a buffer was full, over the whole run.
    let droppedTotal = ManagedAtomic<Int>(0)

    init(path: String, mode: Mode, loops: Int, capacity: Int = 65_536) {
        self.path = path
        self.mode = mode
        buffers = (0..<loops).map { _ in Buffer(capacity: capacity) }
    }

    func buffer(forLoop index: Int) -> Buffer { buffers[index % buffers.count] }

    /// Whether a query with `outcome` is logged in this mode.
    @inline(__always)
    func wants(_ outcome: QueryOutcome) -> Bool {
        switch mode {
        case .off: return false
        case .blocked: return outcome == .blocked
        case .all: return true
        }
    }

    /// Starts the writer thread; fails when the file cannot be opened.
    func start() throws {
        let output = Output(file: try Self.open(path))
        let thread = Thread { [self] in
            while true {
                let stopping = stopRequested.load(ordering: .acquiring)
                if reopenRequested.exchange(false, ordering: .acquiring), path != "-",
                   let reopened = try? Self.open(path) {
                    fclose(output.file)
                    output.file = reopened
                }
                drain(into: output.file)
                if stopping { break }
                usleep(50_000)
            }
            fclose(output.file)
            stopped.store(true, ordering: .releasing)
        }
        thread.start()
    }

    /// The open file; only the writer thread touches it once started.
    private final class Output: @unchecked Sendable {
        var file: UnsafeMutablePointer<FILE>

        init(file: UnsafeMutablePointer<FILE>) {
            self.file = file
        }
    }

    /// Reopens the file on the writer thread (SIGUSR1, after logrotate moved it).
    func reopen() { reopenRequested.store(true, ordering: .releasing) }

    /// Writes what is buffered and stops the writer; waits up to two seconds.
    func close() {
        stopRequested.store(true, ordering: .releasing)
        for _ in 0..<200 where !stopped.load(ordering: .acquiring) { usleep(10_000) }
    }

    /// The file to append to; "-" is a stream of its own on standard output.
    private static func open(_ path: String) throws -> UnsafeMutablePointer<FILE> {
        let file = path == "-" ? fdopen(dup(STDOUT_FILENO), "a") : fopen(path, "a")
        guard let file else {
            throw QueryLogError(message: "cannot open query log \(path): \(String(cString: strerror(errno)))")
        }
        return file
    }

    private func drain(into file: UnsafeMutablePointer<FILE>) {
        var text = ""
        for buffer in buffers {
            let records = buffer.records.withLockedValue { records -> [Record] in
                defer { records.removeAll(keepingCapacity: true) }
                return records
            }
            for record in records { text += Self.json(record) }
            let dropped = buffer.dropped.exchange(0, ordering: .relaxed)
            if dropped > 0 {
                droppedTotal.wrappingIncrement(by: dropped, ordering: .relaxed)
                text += "{\"time\":\"\(Self.timestamp(Date().timeIntervalSince1970))\",\"dropped\":\(dropped)}\n"
            }
        }
        guard !text.isEmpty else { return }
        _ = text.withCString { fputs($0, file) }
        fflush(file)
    }

    static func json(_ record: Record) -> String {
        var line = "{\"time\":\"\(timestamp(record.time))\",\"client\":\"\(record.client?.ipAddress ?? "")\","
        line += "\"protocol\":\"\(record.transport.rawValue)\",\"name\":\"\(escape(DomainName.presentation(ofWire: record.name)))\","
        line += "\"type\":\"\(QueryBuilder.typeName(record.type))\",\"outcome\":\"\(record.outcome.rawValue)\","
        line += "\"list\":" + (record.list.map { "\"\(escape($0))\"" } ?? "null") + ","
        if let trigger = record.trigger {
            line += "\"trigger\":\"\(trigger)\",\"matched\":\"\(escape(record.matched ?? ""))\","
        }
        line += "\"rcode\":" + (record.rcode.map { "\"\(rcodeName($0))\"" } ?? "null") + ","
        line += "\"latency_us\":\(record.latencyMicroseconds)}\n"
        return line
    }

    static func escape(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    static func rcodeName(_ rcode: UInt8) -> String {
        ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"].indices.contains(Int(rcode))
            ? ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"][Int(rcode)] : "RCODE\(rcode)"
    }

    /// RFC 3339 in UTC with milliseconds, without a formatter object per line.
    static func timestamp(_ time: Double) -> String {
        var seconds = time_t(time)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let millis = Int((time - Double(seconds)) * 1000)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }
}

struct QueryLogError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

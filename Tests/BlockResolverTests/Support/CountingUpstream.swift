import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tiny UDP upstream written for the tests that must know how many queries reached the
/// upstream and with which flags: it answers every A query with one record (or NXDOMAIN with a
/// SOA for names starting with "nx"), after an optional delay, and records each query it saw.
final class CountingUpstream: @unchecked Sendable {
    struct Seen {
        let name: String
        let dnssecOK: Bool
        let checkingDisabled: Bool
        /// The address the query came from (IPv4 only; empty for IPv6).
        var source = ""
    }

    /// The OPT record of the replies when set: every query that has an OPT gets one back, with
    /// `udpSize` and the query's DO bit (none when `echoDO` is false, as no good upstream would
    /// do, so that a test can tell the resolver's own OPT from the upstream's). Unset, an OPT comes
    /// back only to a DO query.
    struct ReplyOPT {
        var udpSize: UInt16 = 1232
        var echoDO = true
    }

    let port: Int
    let family: Int32
    private let fd: Int32
    private let lock = NSLock()
    private var seen: [Seen] = []
    private var stopped = false
    private var thread: Thread?

    /// Listens on 127.0.0.1 (or ::1 when `ipv6`) and answers with `address` and `ttl`; when
    /// `silent`, it records each query and never answers (an upstream that has died).
    init(address: [UInt8] = [192, 0, 2, 53], ttl: UInt32 = 300, delayMilliseconds: Int = 0, ipv6: Bool = false,
         replyOPT: ReplyOPT? = nil, silent: Bool = false) throws {
        port = try TestTools.freePort()
        family = ipv6 ? AF_INET6 : AF_INET
        fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        let bound: Bool
        if ipv6 {
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_addr = in6addr_loopback
            socketAddress.sin6_port = in_port_t(UInt16(port).bigEndian)
            bound = withUnsafePointer(to: &socketAddress) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
                }
            }
        } else {
            bound = RawDNS.withLoopback(port: port) { bind(fd, $0, $1) == 0 }
        }
        if !bound { throw TestTools.Missing(description: "cannot bind the counting upstream") }
        RawDNS.setTimeout(fd, milliseconds: 200)
        let thread = Thread { [self] in
            serve(address: address, ttl: ttl, delayMilliseconds: delayMilliseconds, replyOPT: replyOPT, silent: silent)
        }
        self.thread = thread
        thread.start()
    }

    private func serve(address: [UInt8], ttl: UInt32, delayMilliseconds: Int, replyOPT: ReplyOPT?, silent: Bool) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var peer = sockaddr_storage()
        while !isStopped {
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let got = withUnsafeMutablePointer(to: &peer) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &length) }
            }
            guard got > 12, let (reply, question) = Self.reply(to: Array(buffer[0..<got]), address: address, ttl: ttl,
                                                               opt: replyOPT)
            else { continue }
            var seen = question
            seen.source = Self.ipv4Source(peer)
            lock.withLock { self.seen.append(seen) }
            if silent { continue }
            let send: @Sendable () -> Void = { [fd, peer, length] in
                var peer = peer
                _ = withUnsafePointer(to: &peer) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, reply, reply.count, 0, $0, length) }
                }
            }
            if delayMilliseconds > 0 {
                // Each answer waits on its own, as a real upstream's would: slow, not serialised.
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delayMilliseconds), execute: send)
            } else {
                send()
            }
        }
    }

    /// The IPv4 address of `peer` as text; empty for any other family.
    static func ipv4Source(_ peer: sockaddr_storage) -> String {
        guard peer.ss_family == sa_family_t(AF_INET) else { return "" }
        var peer = peer
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        withUnsafePointer(to: &peer) { pointer in
            pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var raw = address.pointee.sin_addr
                _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
            }
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    var queries: [Seen] { lock.withLock { seen } }

    func count(of name: String) -> Int { queries.filter { $0.name == name }.count }

    /// Stops answering (the socket stays bound, so later queries go unanswered).
    func stop() {
        lock.withLock { stopped = true }
        while let thread, !thread.isFinished { usleep(10_000) }
    }

    deinit {
        stop()
        close(fd)
    }

    /// The reply to `query`: its header and question, QR/RA set, and one A record (or NXDOMAIN
    /// and a SOA with MINIMUM 60 for names starting with "nx"), and an OPT as `opt` says.
    static func reply(to query: [UInt8], address: [UInt8], ttl: UInt32, opt: ReplyOPT? = nil) -> ([UInt8], Seen)? {
        var end = 12
        var labels: [String] = []
        while end < query.count && query[end] != 0 {
            let length = Int(query[end])
            guard end + 1 + length <= query.count else { return nil }
            labels.append(String(decoding: query[(end + 1)...(end + length)], as: UTF8.self))
            end += length + 1
        }
        end += 5
        guard end <= query.count else { return nil }
        // The OPT record (if any) follows the question: DO is bit 15 of its TTL field.
        let hasOPT = query.count >= end + 11 && query[end] == 0 && query[end + 1] == 0 && query[end + 2] == 41
        let dnssecOK = hasOPT && query[end + 7] & 0x80 != 0
        let seen = Seen(name: labels.joined(separator: ".").lowercased(), dnssecOK: dnssecOK,
                        checkingDisabled: query[3] & 0x10 != 0)
        var reply = Array(query[0..<end])
        reply[2] |= 0x80
        reply[3] = (reply[3] & 0x10) | 0x80
        reply[10] = 0
        reply[11] = 0
        if seen.name.hasPrefix("compressq") {
            // The question name as a pointer forward to the answer's owner, which spells the name
            // out (offset 12 + 2 + 4 = 18): legal to ldns, and a trap for a relay that patches bytes.
            let name = Array(query[12..<(end - 4)])
            let ttlBytes = [UInt8(ttl >> 24), UInt8((ttl >> 16) & 0xFF), UInt8((ttl >> 8) & 0xFF), UInt8(ttl & 0xFF)]
            reply = Array(reply[0..<12]) + [0xC0, 18] + Array(query[(end - 4)..<end]) + name
                + [0, 1, 0, 1] + ttlBytes + [0, 4] + address
            reply[7] = 1
            reply[9] = 0
        } else if seen.name.hasPrefix("nx") {
            reply[3] |= 3
            reply[7] = 0
            reply[9] = 1
            // SOA owned by the question name: TTL 300, MINIMUM 60.
            reply += [0xC0, 12, 0, 6, 0, 1, 0, 0, 1, 44, 0, 22, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                      0, 0, 0, 60]
        } else {
            reply[7] = 1
            reply[9] = 0
            let ttlBytes = [UInt8(ttl >> 24), UInt8((ttl >> 16) & 0xFF), UInt8((ttl >> 8) & 0xFF), UInt8(ttl & 0xFF)]
            reply += [0xC0, 12, 0, 1, 0, 1] + ttlBytes + [0, 4] + address
            if dnssecOK {
                // A signature for the A record, as a signed zone would send a DO client: type covered A,
                // algorithm 13, 2 labels, original TTL, expiration, inception, key tag, signer ".", 64 bytes.
                let rdata: [UInt8] = [0, 1, 13, 2] + ttlBytes + [0x7F, 0, 0, 0, 0x60, 0, 0, 0, 0x12, 0x34, 0]
                    + [UInt8](repeating: 0xAB, count: 64)
                reply[7] = 2
                reply += [0xC0, 12, 0, 46, 0, 1] + ttlBytes + [UInt8(rdata.count >> 8), UInt8(rdata.count & 0xFF)] + rdata
            }
        }
        if let opt, hasOPT {
            reply[11] = 1
            let flags: UInt8 = dnssecOK && opt.echoDO ? 0x80 : 0
            reply += [0, 0, 41, UInt8(opt.udpSize >> 8), UInt8(opt.udpSize & 0xFF), 0, 0, flags, 0, 0, 0]
        } else if dnssecOK {
            // EDNS in the reply with the DO bit, as a validating upstream answers.
            reply[11] = 1
            reply += [0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]
        }
        return (reply, seen)
    }
}

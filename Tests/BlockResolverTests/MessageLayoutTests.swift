import CLdns
import NIOCore
import ResolverConfig
import XCTest
@testable import BlockResolver

/// The Wire layer's reading of OPT records in queries (RFC 6891 6.1.1) and the reply image every
/// client is answered from: the upstream's OPT cut off, the client's own put in, and messages
/// whose layout does not allow patching written anew by ldns.
final class MessageLayoutTests: XCTestCase {
    static let hex = AnswerWriterTests.hex
    /// `www.paypal.com A`, ID 0xBEEF, RD, with `additional` records counted in ARCOUNT.
    static func query(additional: UInt16, answers: UInt16 = 0) -> [UInt8] {
        hex("beef 0100 0001") + [0, UInt8(answers), 0, 0, 0, UInt8(additional)]
            + hex("03777777 067061797061 6c 03636f6d 00 0001 0001")
    }
    static let opt = hex("00 0029 1000 00000000 0000")

    func outcome(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { raw in
            QueryParser.parse(raw) { outcome -> String in
                switch outcome {
                case .drop: return "drop"
                case .notify: return "notify"
                case .headerOnly(_, _, let rcode): return "rcode \(rcode)"
                case .query(let query):
                    guard let edns = query.edns else { return "query" }
                    return "query edns \(edns.version) do \(edns.dnssecOK) size \(edns.udpSize)"
                }
            }
        }
    }

    func testQueryOPTRecordsAreChecked() {
        XCTAssertEqual(outcome(Self.query(additional: 1) + Self.opt), "query edns 0 do false size 4096")
        XCTAssertEqual(outcome(Self.query(additional: 2) + Self.opt + Self.opt), "rcode 1", "two OPT records")
        let owned = Self.hex("03636f6d 00 0029 1000 00000000 0000")  // owner "com."
        XCTAssertEqual(outcome(Self.query(additional: 1) + owned), "rcode 1", "OPT owner not the root")
        XCTAssertEqual(outcome(Self.query(additional: 0, answers: 1) + Self.opt), "rcode 1", "OPT in the answer section")
        var version1 = Self.opt
        version1[6] = 1
        version1[7] = 0x80
        XCTAssertEqual(outcome(Self.query(additional: 1) + version1), "query edns 1 do true size 4096")
    }

    /// The reply of `upstream` for `www.paypal.com A` as the image answers a client.
    func relay(_ upstream: [UInt8], clientEDNS: Bool, dnssecOK: Bool = false) throws -> [UInt8] {
        let question = Question(name: Self.hex("03777777 067061797061 6c 03636f6d 00"), type: 1, class: 1)
        let reply = try XCTUnwrap(upstream.withUnsafeBytes { ReplyParser.check($0, id: 0xBEEF, question: question) })
        let opt = OPTTemplate(try LdnsRecord.opt(udpSize: 1400, ede: nil))
        let name = Array("\u{3}WWW\u{6}PayPal\u{3}com\u{0}".utf8)
        let answer = name.withUnsafeBufferPointer { name in
            reply.image.answer(id: 0x1234, question: name, opt: clientEDNS ? opt : nil, dnssecOK: dnssecOK,
                               allocator: ByteBufferAllocator())
        }
        let bytes = Array(answer.readableBytesView)
        XCTAssertFalse(QueryBuilder.describe(bytes).contains("cannot read"), "ldns reads what a client gets")
        return bytes
    }

    static let answerRecord = hex("c00c 0001 0001 0000012c 0004 c0000201")

    func testTheUpstreamOPTIsReplacedByTheResolversOwn() throws {
        var upstream = Self.query(additional: 1, answers: 1) + Self.answerRecord
        upstream[2] |= 0x80
        upstream += Self.hex("00 0029 0200 00000000 0008 000a 0004 01020304")  // a cookie option
        let plain = try relay(upstream, clientEDNS: false)
        XCTAssertEqual(Array(plain[10..<12]), [0, 0], "no OPT for a client that sent none")
        XCTAssertEqual(plain.count, upstream.count - 19)
        XCTAssertEqual(Array(plain[12..<16]), [3, 0x57, 0x57, 0x57], "the client's spelling")
        let edns = try relay(upstream, clientEDNS: true, dnssecOK: true)
        XCTAssertEqual(Array(edns[10..<12]), [0, 1])
        XCTAssertEqual(Array(edns.suffix(11)), Self.hex("00 0029 0578 00008000 0000"), "size 1400, DO, no options")
    }

    /// A question name that is a pointer forward to the answer's owner cannot be patched with
    /// the client's spelling; the image is written anew by ldns.
    func testACompressedQuestionNameIsRebuiltByLdns() throws {
        var upstream = Self.hex("beef 8180 0001 0001 0000 0000 c012 0001 0001")
        upstream += Self.hex("03777777 067061797061 6c 03636f6d 00 0001 0001 0000012c 0004 c0000201")
        let bytes = try relay(upstream, clientEDNS: false)
        XCTAssertEqual(Array(bytes[12..<28]), Array("\u{3}WWW\u{6}PayPal\u{3}com\u{0}".utf8))
        XCTAssertTrue(QueryBuilder.describe(bytes).contains("192.0.2.1"))
    }

    /// An OPT record followed by another record cannot be cut off in place; ldns writes the
    /// message again without it.
    func testAnOPTRecordThatIsNotLastIsRebuiltWithoutIt() throws {
        var upstream = Self.query(additional: 2, answers: 1) + Self.answerRecord
        upstream[2] |= 0x80
        upstream += Self.opt + Self.hex("c00c 0001 0001 0000012c 0004 c0000202")
        let bytes = try relay(upstream, clientEDNS: false)
        XCTAssertEqual(Array(bytes[10..<12]), [0, 1], "the additional A record stays, the OPT goes")
        XCTAssertFalse(QueryBuilder.describe(bytes).contains("EDNS"))
    }
}

/// Upstream replies found by the `reply` fuzz target (issue 14) whose patched image ldns could
/// not read: ldns and the layout walker disagreed on where a record ends, or a compression
/// pointer aimed past the image's end or into a TTL. Such replies are now written anew.
final class FuzzFoundReplyTests: XCTestCase {
    static let replies = [
        "QkKBgAABAAEAAAABA3d3fAdleGEhcGxlAAARDAHANAEAAAEAAAEsAATAAAJdAAApBNAAAAAAAAA=",
        "QkKBgAABAAIAAAAAA3eNgwdteGFtenRlAAABAAHADAAFAAEAAAEsABABYQRzdCFyB2VPQVNheGUKAWEEc1NPQQQAAAAAAAAAAFNPQQEAAAEsAAQAU09B",
        "QkKBAAABAAMAAAAAA3d3dwdFeGEAACwAAAABAAEHZXhhbXBsZQAAJwABAAAhAAAAAAAAAP///wEsAA8FbG9jV2QHZXhhAAAAAQHADAAFAAEAAAEsABAAO3MAAAAAAAAAAAAAAAB3BWxvY2FsB2WIp21wbGEA",
        "QkKBgAABAAIAAAAAA3d3dwdleGFtcGxlAAABAAEHZXhhbXBsZQAAJwABAAABAAAAA3d3dwdleGFtcGxlAAAFAAEAAAEsABMDd3d3BWwBAAIAAAAAA21wbGUAAAEAAQdleAEAAAEsABMDd3d3BWwFAGFsB2V4YW1wbGUA",
        // A DNAME whose target name runs past its RDLENGTH, next to an additional record.
        "QkKBgAABAAEAAAAAA3d3fwdFeGFtcGxlAPkBAAEAACcAAQAAASwADwUTExMALAAEwAACAQAAKQTQfgBhbXBsZQCSAQD5AQABAAAAAAAAAGUAQkIB",
    ]

    func testEveryAnswerMadeFromThemIsAMessageLdnsReads() throws {
        for text in Self.replies {
            let bytes = try XCTUnwrap(Data(base64Encoded: text)).map { $0 }
            let packet = try bytes.withUnsafeBytes { try LdnsPacket(wire: $0) }
            let asked = try XCTUnwrap(packet.question)
            let owner = try XCTUnwrap(ldns_rr_owner(asked))
            let name = Array(UnsafeBufferPointer(start: ldns_rdf_data(owner), count: ldns_rdf_size(owner)))
            let question = Question(name: name, type: UInt16(ldns_rr_get_type(asked).rawValue),
                                    class: UInt16(ldns_rr_get_class(asked).rawValue))
            guard let reply = bytes.withUnsafeBytes({ ReplyParser.check($0, id: ldns_pkt_id(packet.pointer), question: question) })
            else { continue }  // refused: as good as SERVFAIL
            let spelled = name.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
            let opt = OPTTemplate(try LdnsRecord.opt(udpSize: 1232, ede: nil))
            for withOPT in [false, true] {
                let answer = spelled.withUnsafeBufferPointer { spelling in
                    reply.image.answer(id: 0x1234, question: spelling, ttlCap: 3600, elapsed: 7,
                                       opt: withOPT ? opt : nil, dnssecOK: withOPT, allocator: ByteBufferAllocator())
                }
                let wire = Array(answer.readableBytesView)
                XCTAssertNoThrow(try wire.withUnsafeBytes { try LdnsPacket(wire: $0) }, "\(text), OPT \(withOPT)")
            }
        }
    }
}

import NIOCore
import ResolverConfig
import XCTest
@testable import BlockResolver

/// The spliced answers, checked byte for byte against hex fixtures and re-parsed with ldns.
final class AnswerWriterTests: XCTestCase {
    static func hex(_ text: String) -> [UInt8] {
        let digits = text.filter(\.isHexDigit)
        return stride(from: 0, to: digits.count, by: 2).map {
            let start = digits.index(digits.startIndex, offsetBy: $0)
            return UInt8(digits[start...digits.index(after: start)], radix: 16)!
        }
    }

    /// dig's query for `www.paypal.com A` with RD, id 0xBEEF, without and with EDNS (4096, no DO).
    static let plainQuery = hex("beef 0100 0001 0000 0000 0000 03777777 067061797061 6c 03636f6d 00 0001 0001")
    static let ednsQuery = hex("""
        beef 0120 0001 0000 0000 0001 03777777 067061797061 6c 03636f6d 00 0001 0001
        00 0029 1000 00000000 0000
        """)

    func answer(_ query: [UInt8], sinkhole: ResolverSettings.Sinkhole = .init(), category: String = "PSE not registered",
                suffixOffset: Int = 4) throws -> [UInt8] {
        let settings = ListSettings(name: "l", path: "/l", pathAsWritten: "l", format: .domains, action: .block,
                                    category: category, configLine: 1, sinkhole: sinkhole)
        let list = try ListAnswer(list: settings, rules: [.wholeSubtree], udpSize: 1232)
        return query.withUnsafeBytes { bytes in
            QueryParser.parse(bytes) { outcome -> [UInt8] in
                guard case .query(let parsed) = outcome else { return [] }
                var buffer = ByteBufferAllocator().buffer(capacity: 512)
                list.write(parsed, .sinkhole, suffixOffset: suffixOffset, into: &buffer)
                return Array(buffer.readableBytesView)
            }
        }
    }

    func testBlockedAWithoutEDNSMatchesFixture() throws {
        let expected = Self.hex("""
            beef 8180 0001 0001 0000 0000
            03777777 067061797061 6c 03636f6d 00 0001 0001
            c00c 0001 0001 0000012c 0004 00000000
            """)
        XCTAssertEqual(try answer(Self.plainQuery), expected)
    }

    func testBlockedAWithEDNSCarriesEDE16AndCategory() throws {
        let category = "PSE not registered"
        let text = Array(category.utf8)
        let optionLength = 2 + text.count
        var expected = Self.hex("""
            beef 8180 0001 0001 0000 0001
            03777777 067061797061 6c 03636f6d 00 0001 0001
            c00c 0001 0001 0000012c 0004 00000000
            00 0029 04d0 00000000
            """)
        expected += [0, UInt8(4 + optionLength), 0, 15, 0, UInt8(optionLength), 0, 16] + text
        XCTAssertEqual(try answer(Self.ednsQuery), expected)
    }

    func testOtherTypesGetSOAOwnedByTheListedName() throws {
        var mx = Self.plainQuery
        mx[mx.count - 3] = 15  // QTYPE MX
        let reply = try answer(mx, sinkhole: .init(ipv4: "192.0.2.1", ipv6: "2001:db8::1", ttl: 60))
        XCTAssertEqual(Array(reply[4..<12]), [0, 1, 0, 0, 0, 1, 0, 0])
        // The SOA's owner points at offset 12 + 4 = 16: "paypal.com" inside the question name.
        let soaStart = 12 + 16 + 4
        XCTAssertEqual(Array(reply[soaStart..<(soaStart + 10)]), [0xC0, 16, 0, 6, 0, 1, 0, 0, 0, 60])
    }

    func testAnswersParseWithLdns() throws {
        for query in [Self.plainQuery, Self.ednsQuery] {
            let reply = try answer(query)
            let parsed = reply.withUnsafeBytes { bytes in
                ReplyParser.check(bytes, id: 0xBEEF, question: Question(
                    name: Self.hex("03777777 067061797061 6c 03636f6d 00"), type: 1, class: 1))
            }
            XCTAssertNotNil(parsed)
            XCTAssertEqual(parsed?.rcode, 0)
        }
    }

    func testParserOutcomes() {
        func outcome(_ bytes: [UInt8]) -> String {
            bytes.withUnsafeBytes { raw in
                QueryParser.parse(raw) { outcome -> String in
                    switch outcome {
                    case .drop: return "drop"
                    case .notify: return "notify"
                    case .headerOnly(_, _, let rcode): return "rcode \(rcode)"
                    case .query(let query): return "query type \(query.type) edns \(query.edns != nil)"
                    }
                }
            }
        }
        XCTAssertEqual(outcome(Self.plainQuery), "query type 1 edns false")
        XCTAssertEqual(outcome(Self.ednsQuery), "query type 1 edns true")
        XCTAssertEqual(outcome(Array(Self.plainQuery.prefix(11))), "drop")
        var response = Self.plainQuery
        response[2] |= 0x80
        XCTAssertEqual(outcome(response), "drop")
        var notify = Self.plainQuery
        notify[2] = 4 << 3
        XCTAssertEqual(outcome(notify), "notify")  // NotifyStage judges it (a zone transfer)
        XCTAssertEqual(outcome(Array(Self.plainQuery.prefix(20))), "rcode 1")
    }

    /// The spliced upstream query is the message ldns makes for the same question, byte for byte,
    /// for every combination of DO and CD, and it is exactly what the test expects on the wire.
    func testUpstreamQueryEqualsTheOneLdnsMakes() throws {
        let builder = try UpstreamQueryBuilder(udpSize: 1232)
        let names: [[UInt8]] = [[0], Array("\u{3}www\u{6}PayPal\u{3}com\u{0}".utf8),
                                Array(repeating: 0, count: 0) + [63] + Array(repeating: UInt8(ascii: "a"), count: 63) + [0]]
        for name in names {
            for type: UInt16 in [1, 28, 255] {
                for dnssecOK in [false, true] {
                    for checkingDisabled in [false, true] {
                        let question = Question(name: name, type: type, class: 1)
                        var byLdns = try UpstreamQueryBuilder.ldnsQuery(question, dnssecOK: dnssecOK,
                                                                         checkingDisabled: checkingDisabled, udpSize: 1232)
                        byLdns[0] = 0
                        byLdns[1] = 0
                        XCTAssertEqual(builder.query(question, dnssecOK: dnssecOK, checkingDisabled: checkingDisabled),
                                       byLdns, "\(name) \(type) DO=\(dnssecOK) CD=\(checkingDisabled)")
                    }
                }
            }
        }
        let query = builder.query(Question(name: Array("\u{3}www\u{6}paypal\u{3}com\u{0}".utf8), type: 1, class: 1),
                                  dnssecOK: true, checkingDisabled: false)
        XCTAssertEqual(query, Self.hex("""
            0000 0100 0001 0000 0000 0001 03777777 067061797061 6c 03636f6d 00 0001 0001
            00 0029 04d0 00008000 0000
            """))
    }
}


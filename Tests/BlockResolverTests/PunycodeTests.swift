import XCTest
@testable import ResolverConfig

/// The Punycode encoder against RFC 3492, and internationalised names in lists and tools.
final class PunycodeTests: XCTestCase {
    func encode(_ scalars: [UInt32]) -> String {
        String(decoding: Punycode.encode(scalars), as: UTF8.self)
    }

    func wire(_ text: String) -> Result<String, DomainName.Problem> {
        DomainName.wireForm(text).map { DomainName.presentation(ofWire: $0) }
    }

    /// Samples of RFC 3492 section 7.1 (basic code points keep their case: the encoder copies them).
    func testRFC3492Samples() {
        let samples: [(String, [UInt32], String)] = [
            ("A Arabic (Egyptian)", [0x0644, 0x064A, 0x0647, 0x0645, 0x0627, 0x0628, 0x062A, 0x0643, 0x0644,
                                     0x0645, 0x0648, 0x0634, 0x0639, 0x0631, 0x0628, 0x064A, 0x061F],
             "egbpdaj6bu4bxfgehfvwxn"),
            ("B Chinese (simplified)", [0x4ED6, 0x4EEC, 0x4E3A, 0x4EC0, 0x4E48, 0x4E0D, 0x8BF4, 0x4E2D, 0x6587],
             "ihqwcrb4cv8a8dqg056pqjye"),
            ("C Chinese (traditional)", [0x4ED6, 0x5011, 0x7232, 0x4EC0, 0x9EBD, 0x4E0D, 0x8AAA, 0x4E2D, 0x6587],
             "ihqwctvzc91f659drss3x8bo0yb"),
            ("D Czech", [0x50, 0x72, 0x6F, 0x10D, 0x70, 0x72, 0x6F, 0x73, 0x74, 0x11B, 0x6E, 0x65, 0x6D, 0x6C,
                         0x75, 0x76, 0xED, 0x10D, 0x65, 0x73, 0x6B, 0x79],
             "Proprostnemluvesky-uyb24dma41a"),
            ("L 3<nen>B<gumi><kinpachi><sensei>", [0x33, 0x5E74, 0x42, 0x7D44, 0x91D1, 0x516B, 0x5148, 0x751F],
             "3B-ww4c5e180e575a65lsy2b"),
            ("N Hello-Another-Way-", [0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x2D, 0x41, 0x6E, 0x6F, 0x74, 0x68, 0x65,
                                      0x72, 0x2D, 0x57, 0x61, 0x79, 0x2D, 0x305D, 0x308C, 0x305E, 0x308C,
                                      0x306E, 0x5834, 0x6240],
             "Hello-Another-Way--fc4qua05auwb3674vfr0b"),
            ("P Maji<de>Koi<suru>5<byou><mae>", [0x4D, 0x61, 0x6A, 0x69, 0x3067, 0x4B, 0x6F, 0x69, 0x3059, 0x308B,
                                                 0x35, 0x79D2, 0x524D],
             "MajiKoi5-783gue6qz075azm5e"),
            ("Q <pafii>de<runba>", [0x30D1, 0x30D5, 0x30A3, 0x30FC, 0x64, 0x65, 0x30EB, 0x30F3, 0x30D0],
             "de-jg4avhby1noc0d"),
            ("R <sono><supiido><de>", [0x305D, 0x306E, 0x30B9, 0x30D4, 0x30FC, 0x30C9, 0x3067], "d9juau41awczczp"),
            ("S -> $1.00 <-", [0x2D, 0x3E, 0x20, 0x24, 0x31, 0x2E, 0x30, 0x30, 0x20, 0x3C, 0x2D], "-> $1.00 <--"),
        ]
        for (name, scalars, expected) in samples {
            XCTAssertEqual(encode(scalars), expected, name)
        }
    }

    func testNamesBecomeTheirALabels() {
        XCTAssertEqual(wire("bücher.example"), .success("xn--bcher-kva.example."))
        XCTAssertEqual(wire("münchen.de"), .success("xn--mnchen-3ya.de."))
        XCTAssertEqual(wire("müller.de"), .success("xn--mller-kva.de."))
        XCTAssertEqual(wire("例え.テスト"), .success("xn--r8jz45g.xn--zckzah."))
        // Lower-cased first; ASCII labels beside them unchanged; the A-label written out is the same name.
        XCTAssertEqual(wire("WWW.Bücher.Example"), .success("www.xn--bcher-kva.example."))
        XCTAssertEqual(wire("BÜCHER.example"), .success("xn--bcher-kva.example."))
        XCTAssertEqual(wire("*.bücher.example."), wire("xn--bcher-kva.example"))
        // The Kelvin sign lower-cases to ASCII `k`: a plain label.
        XCTAssertEqual(wire("\u{212A}ino.example"), .success("kino.example."))
    }

    func testBadInternationalLabelsAreRefusedWithAReason() {
        XCTAssertEqual(wire("zero\u{200B}width.example"), .failure(.invalidScalar("\u{200B}")))
        XCTAssertEqual(DomainName.Problem.invalidScalar("\u{200B}").description,
                       "invalid character U+200B (not a letter, mark or digit)")
        XCTAssertEqual(wire("bü cher.example"), .failure(.invalidCharacter(" ")))
        let long = String(repeating: "ü", count: 60) + ".example"
        guard case .failure(.labelTooLong(let length)) = wire(long) else { return XCTFail("\(wire(long))") }
        XCTAssertGreaterThan(length, 63)

        var out: [UInt8] = [7]
        let latin1 = Array("caf".utf8) + [0xE9] + Array(".example".utf8)  // é in ISO 8859-1
        XCTAssertEqual(DomainName.appendWireForm(of: latin1[...], to: &out), .invalidUTF8)
        XCTAssertEqual(out, [7], "nothing appended")
        XCTAssertEqual(DomainName.Problem.invalidUTF8.description,
                       "bytes that are not UTF-8 text (an internationalised name must be saved as UTF-8)")
    }

    func testDomainsAndHostsListsHoldTheALabels() {
        let domains = DomainsReader().parse(Array("bücher.example\ncaf".utf8) + [0xE9] + Array(".id\n".utf8),
                                            fileName: "d")
        var names: [String] = []
        domains.forEachName { _, range in names.append(DomainName.presentation(ofWire: domains.arena[range])) }
        XCTAssertEqual(names, ["xn--bcher-kva.example."])
        XCTAssertEqual(domains.problems.map(\.description),
                       [#"d:2: bytes that are not UTF-8 text (an internationalised name must be saved as UTF-8): "caf\xE9.id""#])

        let hosts = HostsReader().parse(Array("0.0.0.0 münchen.de www.münchen.de\n".utf8), fileName: "h")
        names = []
        hosts.forEachName { _, range in names.append(DomainName.presentation(ofWire: hosts.arena[range])) }
        XCTAssertEqual(names, ["xn--mnchen-3ya.de.", "www.xn--mnchen-3ya.de."])
    }
}

import XCTest
@testable import ResolverConfig

final class DomainNameTests: XCTestCase {
    func wire(_ text: String) -> [UInt8]? { try? DomainName.wireForm(text).get() }

    func testLowerCasesAndIgnoresTrailingDot() {
        XCTAssertEqual(wire("WWW.PayPal.com."), [3, 119, 119, 119, 6, 112, 97, 121, 112, 97, 108, 3, 99, 111, 109, 0])
        XCTAssertEqual(wire("paypal.com"), wire("PAYPAL.COM."))
    }

    func testLeadingWildcardMeansTheNameItself() {
        XCTAssertEqual(wire("*.example.co.id"), wire("example.co.id"))
    }

    func testRejectsWhatIsNotADomainName() {
        let cases: [(String, DomainName.Problem)] = [
            ("http://judi.example.com/promo", .url),
            ("example.com/path", .url),
            ("bad..name", .emptyLabel),
            (".leading.dot", .emptyLabel),
            ("192.0.2.1", .ipAddress),
            ("2001:db8::1", .ipAddress),
            ("under score.com", .invalidCharacter(" ")),
            ("toko!.com", .invalidCharacter("!")),
            (".", .root),
            (String(repeating: "a", count: 64) + ".com", .labelTooLong(64)),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(DomainName.wireForm(text).failureValue, expected, text)
        }
        let long = Array(repeating: String(repeating: "a", count: 60), count: 5).joined(separator: ".")
        XCTAssertEqual(DomainName.wireForm(long).failureValue, .nameTooLong(long.count + 2))
    }

    func testAcceptsUnderscoresDigitsAndHyphens() {
        XCTAssertNotNil(wire("_dmarc.bank-1.co.id"))
        XCTAssertNotNil(wire("123.example"))
    }

    func testPresentationRoundTrips() {
        XCTAssertEqual(DomainName.presentation(ofWire: wire("Judi.Example.co.id")!), "judi.example.co.id.")
        XCTAssertEqual(DomainName.presentation(ofWire: [0]), ".")
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

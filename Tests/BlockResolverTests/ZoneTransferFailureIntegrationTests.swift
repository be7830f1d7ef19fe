import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Zone transfers that must not be taken, and failures that must keep the last good zone: NOTIFY
/// from an unlisted address or for another zone, a wrong TSIG key, the primary down at start, a
/// transfer cut in the middle. A real primary (BIND 9's named); the resolver is the built binary.
final class ZoneTransferFailureIntegrationTests: ZoneTransferTestCase {
    func testNotifyFromUnlistedAddressOrForAnotherZoneIsRefused() throws {
        let primary = try PrimaryServer(folder: folder, zone: Self.zone, records: ["blocked.example CNAME ."],
                                        notifyPort: nil)
        let resolver = try startResolver(primaryPort: primary.port)
        XCTAssertEqual(try waitFor(resolver, "blocked.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        let notify = RawDNS.query(id: 77, name: Self.zone, type: 6, flags: 4 << 11 | 0x0400)
        // From 127.0.0.2, which is not the listed primary (127.0.0.1): REFUSED.
        let refused = try XCTUnwrap(Self.udpExchange(notify, from: "127.0.0.2", port: resolver.port))
        XCTAssertEqual(RawDNS.rcode(refused), 5)
        XCTAssertEqual((RawDNS.flags(refused) >> 11) & 0xF, 4)
        // For a zone no list transfers, even from the primary's address: REFUSED.
        let other = RawDNS.query(id: 78, name: "other.test", type: 6, flags: 4 << 11 | 0x0400)
        XCTAssertEqual(RawDNS.rcode(try XCTUnwrap(Self.udpExchange(other, from: "127.0.0.1", port: resolver.port))), 5)
        // From the primary's address, for the zone: accepted (NOERROR, AA) and a SOA check follows.
        let accepted = try XCTUnwrap(Self.udpExchange(notify, from: "127.0.0.1", port: resolver.port))
        XCTAssertEqual(RawDNS.rcode(accepted), 0)
        XCTAssertEqual(RawDNS.id(accepted), 77)
        XCTAssertNotEqual(RawDNS.flags(accepted) & 0x8400, 0)  // QR and AA
        XCTAssertTrue(TestTools.waitUntil { self.lines(resolver.server.log, "NOTIFY accepted").count == 1 })
        XCTAssertEqual(lines(resolver.server.log, "NOTIFY refused").count, 2, resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("blocked.example").status, "NXDOMAIN")
    }

    func testTSIGOnTransfersAndNotifyAndWrongKeyRefused() throws {
        let resolverPort = try TestTools.freePort()
        let primary = try PrimaryServer(folder: folder, zone: Self.zone, records: ["blocked.example CNAME ."],
                                        notifyPort: resolverPort, key: ("fleet-key", Self.secret))
        // The wrong secret: the primary refuses the transfer; nothing is blocked, the failure is logged.
        var resolver = try startResolver(primaryPort: primary.port, port: resolverPort, secret: Self.wrongSecret)
        XCTAssertTrue(TestTools.waitUntil { !self.lines(resolver.server.log, "zone transfer failed").isEmpty },
                      resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("blocked.example").status, "NOERROR")
        XCTAssertFalse(FileManager.default.fileExists(atPath: copyURL.path))
        resolver.server.stop()

        // Without a key: refused as well.
        resolver = try startResolver(primaryPort: primary.port, port: resolverPort)
        XCTAssertTrue(TestTools.waitUntil { !self.lines(resolver.server.log, "zone transfer failed").isEmpty },
                      resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("blocked.example").status, "NOERROR")
        resolver.server.stop()

        // The right key: AXFR, then a signed NOTIFY and a signed IXFR.
        resolver = try startResolver(primaryPort: primary.port, port: resolverPort, secret: Self.secret)
        XCTAssertEqual(try waitFor(resolver, "blocked.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        try primary.update(["update add new.example.\(Self.zone). 60 CNAME ."])
        XCTAssertEqual(try waitFor(resolver, "new.example", "NXDOMAIN", seconds: 5), "NXDOMAIN",
                       resolver.server.log + primary.server.log)
        XCTAssertFalse(lines(resolver.server.log, "NOTIFY accepted").isEmpty, resolver.server.log)
        XCTAssertTrue(lines(resolver.server.log, "zone transferred").last?.contains("kind=ixfr") == true,
                      resolver.server.log)
        // An unsigned NOTIFY from the primary's address is refused: the list has a key.
        let notify = RawDNS.query(id: 79, name: Self.zone, type: 6, flags: 4 << 11 | 0x0400)
        XCTAssertEqual(RawDNS.rcode(try XCTUnwrap(Self.udpExchange(notify, from: "127.0.0.1", port: resolver.port))), 9)
    }

    func testPrimaryDownAtStartServesLastGoodCopy() throws {
        var primary: PrimaryServer? = try PrimaryServer(folder: folder, zone: Self.zone,
                                                        records: ["blocked.example CNAME ."], notifyPort: nil)
        let primaryPort = try XCTUnwrap(primary?.port)
        var resolver = try startResolver(primaryPort: primaryPort)
        XCTAssertEqual(try waitFor(resolver, "blocked.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        resolver.server.stop()
        primary?.server.stop()
        primary = nil

        resolver = try startResolver(primaryPort: primaryPort)
        XCTAssertEqual(try resolver.dig.query("blocked.example").status, "NXDOMAIN", resolver.server.log)
        XCTAssertTrue(TestTools.waitUntil { !self.lines(resolver.server.log, "still serving the last good copy").isEmpty },
                      resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("blocked.example").status, "NXDOMAIN")
        XCTAssertTrue(copyHeader().contains("serial 1"), copyHeader())
    }

    func testCutTransferKeepsTheOldZoneAndIsRetried() throws {
        let resolverPort = try TestTools.freePort()
        let primary = try PrimaryServer(folder: folder, zone: Self.zone, records: ["blocked.example CNAME ."],
                                        notifyPort: resolverPort)
        let proxy = try CuttingProxy(targetPort: primary.port)
        let resolver = try startResolver(primaryPort: proxy.port, port: resolverPort)
        XCTAssertEqual(try waitFor(resolver, "blocked.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)

        // The next transfer is cut after 600 bytes: 200 new names make a longer delta.
        proxy.cut(after: 600)
        try primary.update((0..<200).map { "update add added\($0).example.\(Self.zone). 60 CNAME ." }
                           + ["update add new.example.\(Self.zone). 60 CNAME ."])
        XCTAssertTrue(TestTools.waitUntil { !self.lines(resolver.server.log, "zone transfer failed").isEmpty },
                      resolver.server.log)
        XCTAssertGreaterThan(proxy.cutCount, 0)
        XCTAssertEqual(try resolver.dig.query("new.example").status, "NOERROR", resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("blocked.example").status, "NXDOMAIN")
        XCTAssertTrue(copyHeader().contains("serial 1"), copyHeader())
        XCTAssertFalse(FileManager.default.fileExists(atPath: copyURL.path + ".tmp"))

        // The connection mended: the retry (the zone's retry, 1 s) brings the change.
        proxy.cut(after: nil)
        XCTAssertEqual(try waitFor(resolver, "new.example", "NXDOMAIN"), "NXDOMAIN", resolver.server.log)
        XCTAssertEqual(try resolver.dig.query("added199.example").status, "NXDOMAIN")
        XCTAssertTrue(copyHeader().contains("serial 2"), copyHeader())
        proxy.stop()
    }

}

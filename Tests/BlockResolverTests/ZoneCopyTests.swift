import Foundation
import XCTest
@testable import BlockResolver

/// The copy of a transferred zone (`ZoneCopy`) and serial arithmetic, without a primary.
final class ZoneCopyTests: XCTestCase {
    typealias Record = TransferMessage.TransferRecord

    func record(_ line: String) throws -> Record {
        try XCTUnwrap(TransferMessage.record(line: line), line)
    }

    func testHeaderLine() {
        XCTAssertEqual(ZoneCopy.header(line: "; block-resolver zone copy: rpz.test. serial 42 refresh 300 retry 60\n"),
                       .init(zone: "rpz.test.", serial: 42, refresh: 300, retry: 60))
        XCTAssertNil(ZoneCopy.header(line: "$ORIGIN rpz.test.\n"))
        XCTAssertNil(ZoneCopy.header(line: "; block-resolver zone copy: rpz.test. serial x refresh 300 retry 60"))
    }

    func testSerialArithmetic() {
        XCTAssertTrue(ZoneTransferService.isNewer(2, than: 1))
        XCTAssertFalse(ZoneTransferService.isNewer(1, than: 2))
        XCTAssertFalse(ZoneTransferService.isNewer(7, than: 7))
        // RFC 1982: a serial that wrapped around is newer.
        XCTAssertTrue(ZoneTransferService.isNewer(3, than: 0xFFFF_FFF0))
        XCTAssertFalse(ZoneTransferService.isNewer(0xFFFF_FFF0, than: 3))
    }

    func testDifferencesApplyAllOrNothing() throws {
        let folder = try TestTools.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("zone.rpz").path
        let soa1 = try record("rpz.test. 60 IN SOA ns.rpz.test. h.rpz.test. 1 3600 5 86400 60")
        let soa2 = try record("rpz.test. 60 IN SOA ns.rpz.test. h.rpz.test. 2 3600 5 86400 60")
        let a = try record("a.example.rpz.test. 60 IN CNAME .")
        let b = try record("b.example.rpz.test. 60 IN CNAME .")
        let c = try record("c.example.rpz.test. 60 IN CNAME .")
        try ZoneCopy.write(zone: "rpz.test.", soa: soa1, records: [soa1, a, b], to: path)
        XCTAssertEqual(ZoneCopy.header(path: path)?.serial, 1)
        let before = try String(contentsOfFile: path, encoding: .utf8)

        // Deleting what the copy does not have: refused, the copy untouched.
        let missing = ZoneTransfer.Difference(from: 1, to: 2, soa: soa2, deleted: [c], added: [])
        XCTAssertThrowsError(try ZoneCopy.apply([missing], zone: "rpz.test.", to: path))
        // A difference from another serial: refused.
        let elsewhere = ZoneTransfer.Difference(from: 5, to: 6, soa: soa2, deleted: [], added: [c])
        XCTAssertThrowsError(try ZoneCopy.apply([elsewhere], zone: "rpz.test.", to: path))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), before)

        // A good one: b out, c in; a record deleted and added again (TTL changed) is kept once.
        let a300 = try record("a.example.rpz.test. 300 IN CNAME .")
        let good = ZoneTransfer.Difference(from: 1, to: 2, soa: soa2, deleted: [soa1, b, a], added: [soa2, c, a300])
        XCTAssertEqual(try ZoneCopy.apply([good], zone: "rpz.test.", to: path), 4)
        XCTAssertEqual(ZoneCopy.header(path: path)?.serial, 2)
        let after = try ZoneCopy.records(path: path)
        XCTAssertEqual(after.soa.soaSerial, 2)
        XCTAssertEqual(Set(after.byKey.values.map(\.line)), [c.line, a300.line])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(text.components(separatedBy: "a.example.rpz.test.").count, 2, text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    /// The key cut from a copy's line is the one `TransferMessage` makes with ldns, so the
    /// streaming apply finds what a delta deletes.
    func testKeyCutFromALineIsTheRecordsKey() throws {
        for text in ["a.example.rpz.test. 60 IN CNAME .", "*.w.example.rpz.test. 3600 IN CNAME rpz-passthru.",
                     "l.example.rpz.test. 60 IN TXT \"two words\tand a tab\"", "l.example.rpz.test. 60 IN A 192.0.2.1"] {
            let record = try record(text)
            let (key, _) = try XCTUnwrap(record.line.withCString { ZoneCopy.keyAndType($0) })
            XCTAssertEqual(key, record.key, text)
        }
    }

    /// Across differences: added then deleted (gone), deleted then added (kept once), and an
    /// addition of a record the copy holds that a later difference deletes (gone).
    func testDifferencesFoldAcrossSerials() throws {
        let folder = try TestTools.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("zone.rpz").path
        let soa = (1...4).map { try! record("rpz.test. 60 IN SOA ns.rpz.test. h.rpz.test. \($0) 3600 5 86400 60") }
        let a = try record("a.example.rpz.test. 60 IN CNAME .")
        let b = try record("b.example.rpz.test. 60 IN CNAME .")
        let c = try record("c.example.rpz.test. 60 IN CNAME .")
        try ZoneCopy.write(zone: "rpz.test.", soa: soa[0], records: [a, b], to: path)
        let differences = [
            ZoneTransfer.Difference(from: 1, to: 2, soa: soa[1], deleted: [], added: [c, a]),
            ZoneTransfer.Difference(from: 2, to: 3, soa: soa[2], deleted: [c, b], added: [b]),
            ZoneTransfer.Difference(from: 3, to: 4, soa: soa[3], deleted: [a], added: []),
        ]
        XCTAssertEqual(try ZoneCopy.apply(differences, zone: "rpz.test.", to: path), 6)
        let after = try ZoneCopy.records(path: path)
        XCTAssertEqual(after.soa.soaSerial, 4)
        XCTAssertEqual(after.keys, [b.key])
        // Deleting what a difference before deleted: refused.
        let twice = [ZoneTransfer.Difference(from: 4, to: 5, soa: soa[0], deleted: [b, b], added: [])]
        XCTAssertThrowsError(try ZoneCopy.apply(twice, zone: "rpz.test.", to: path))
        XCTAssertEqual(try ZoneCopy.records(path: path).keys, [b.key])
    }

    func testAWriterDroppedWithoutCommitLeavesTheCopy() throws {
        let folder = try TestTools.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("zone.rpz").path
        let soa = try record("rpz.test. 60 IN SOA ns.rpz.test. h.rpz.test. 1 3600 5 86400 60")
        try ZoneCopy.write(zone: "rpz.test.", soa: soa, records: [], to: path)
        let before = try String(contentsOfFile: path, encoding: .utf8)
        do {
            let writer = try ZoneCopy.Writer(path: path, zone: "rpz.test.", soa: soa)
            try writer.add(try record("half.example.rpz.test. 60 IN CNAME ."))
            XCTAssertTrue(FileManager.default.fileExists(atPath: path + ".tmp"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), before)
    }
}

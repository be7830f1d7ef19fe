import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real primary for zone-transfer tests: BIND 9's `named` (Debian package bind9) serving one
/// RPZ zone the test writes, on a free loopback port, sending NOTIFY to `notifyPort` and keeping
/// a journal, so that a change made with `nsupdate` is announced and served as IXFR.
final class PrimaryServer {
    let port: Int
    let zone: String
    let folder: URL
    let server: ServerProcess
    /// The TSIG key named knows (name, base64 secret), when one was given.
    let key: (name: String, secret: String)?

    /// Starts named with `zone` holding `records` (zone-file lines relative to the zone) at
    /// `serial`. With `key`, transfers and updates need it and NOTIFY is signed with it.
    init(folder: URL, zone: String, records: [String], serial: UInt32 = 1, notifyPort: Int?,
         key: (name: String, secret: String)? = nil, port chosen: Int? = nil, retry: Int = 1) throws {
        let named = try TestTools.path(of: "named", package: "bind9")
        self.folder = folder.appendingPathComponent("primary-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: self.folder, withIntermediateDirectories: true)
        port = try chosen ?? TestTools.freePort()
        self.zone = zone
        self.key = key
        let zoneFile = self.folder.appendingPathComponent("zone.db")
        if !FileManager.default.fileExists(atPath: zoneFile.path) {
            try Self.zoneText(zone: zone, records: records, serial: serial, retry: retry)
                .write(to: zoneFile, atomically: true, encoding: .utf8)
        }
        let keyClause = key.map { "key \"\($0.name)\" { algorithm hmac-sha256; secret \"\($0.secret)\"; };" } ?? ""
        let access = key.map { "key \"\($0.name)\";" } ?? "127.0.0.0/8;"
        let notify = notifyPort.map { port in
            "notify explicit; also-notify { 127.0.0.1 port \(port)\(key.map { " key \"\($0.name)\"" } ?? ""); };"
        } ?? "notify no;"
        let config = """
            \(keyClause)
            options {
                directory "\(self.folder.path)";
                pid-file "\(self.folder.path)/named.pid";
                session-keyfile "\(self.folder.path)/session.key";
                managed-keys-directory "\(self.folder.path)";
                listen-on port \(port) { 127.0.0.1; };
                listen-on-v6 { none; };
                recursion no;
                dnssec-validation no;
                notify-delay 0;
                max-ixfr-ratio unlimited;
                startup-notify-rate 100;
                notify-rate 100;
                allow-transfer { \(access) };
            };
            controls { };
            zone "\(zone)" {
                type primary;
                file "zone.db";
                allow-update { \(access) };
                \(notify)
            };

            """
        let configURL = self.folder.appendingPathComponent("named.conf")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        server = try ServerProcess(executable: named, arguments: ["-g", "-4", "-c", configURL.path],
                                   logURL: self.folder.appendingPathComponent("named.log"))
        let server = self.server
        guard TestTools.waitUntil(attempts: 600, { server.log.contains("running") || !server.isRunning }),
              server.isRunning
        else {
            throw TestTools.Missing(description: "named did not start:\n\(server.log)")
        }
    }

    deinit { server.stop() }

    /// A zone file: SOA (refresh and retry short, for tests), NS, and `records`.
    static func zoneText(zone: String, records: [String], serial: UInt32, retry: Int) -> String {
        """
        $ORIGIN \(zone).
        $TTL 60
        @ IN SOA ns.\(zone). hostmaster.\(zone). ( \(serial) 3600 \(retry) 86400 60 )
        @ IN NS ns.\(zone).
        ns IN A 127.0.0.1
        \(records.joined(separator: "\n"))

        """
    }

    /// Changes the zone with `nsupdate`: `commands` are its update lines (`update add …`,
    /// `update delete …`), sent in one update; named bumps the serial, writes its journal and
    /// sends NOTIFY.
    func update(_ commands: [String]) throws {
        let nsupdate = try TestTools.path(of: "nsupdate", package: "bind9-dnsutils")
        var script = "server 127.0.0.1 \(port)\nzone \(zone)\n"
        if let key { script += "key hmac-sha256:\(key.name) \(key.secret)\n" }
        script += commands.joined(separator: "\n") + "\nsend\n"
        let file = folder.appendingPathComponent("update-\(UUID().uuidString.prefix(8)).txt")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let run = try TestTools.run(nsupdate, ["-v", file.path], seconds: 30)
        guard run.status == 0 else {
            throw TestTools.Missing(description: "nsupdate failed (\(run.status)): \(run.output)\n\(server.log)")
        }
    }

    /// The zone's serial as named serves it now.
    func serial() throws -> UInt32? {
        let result = try Dig(server: "127.0.0.1", port: port).query(zone, "SOA", ["+short"])
        return result.output.split(separator: " ").dropFirst(2).first.flatMap { UInt32($0) }
    }
}

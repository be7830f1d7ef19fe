import CLdns
import Foundation
import XCTest

/// A test CA made with openssl, and server certificates it issues; all in `folder`.
final class TestCertificates {
    let folder: URL
    let name: String
    var caPath: String { folder.appendingPathComponent("\(name)-ca.crt").path }
    private var caKey: String { folder.appendingPathComponent("\(name)-ca.key").path }

    /// A new CA called `name` (its files are `name-ca.crt`, `name-ca.key`).
    init(folder: URL, name: String = "test") throws {
        self.folder = folder
        self.name = name
        try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", caKey, "-out", caPath, "-days", "2", "-subj", "/CN=block-resolver \(name) CA"])
    }

    /// A server certificate for `dnsName` (and 127.0.0.1 when `loopbackAddress`) signed by this CA,
    /// written to `file.crt` and `file.key`; returns the two paths. NIOSSL (RFC 6125) takes a
    /// certificate holding the connection's IP address whatever name it expects, so a test of the
    /// name check uses one without.
    @discardableResult
    func issue(_ file: String, dnsName: String = "resolver.example",
               loopbackAddress: Bool = true) throws -> (certificate: String, key: String) {
        let key = folder.appendingPathComponent("\(file).key").path
        let request = folder.appendingPathComponent("\(file).csr").path
        let certificate = folder.appendingPathComponent("\(file).crt").path
        let extensions = folder.appendingPathComponent("\(file).ext")
        try """
            subjectAltName = DNS:\(dnsName)\(loopbackAddress ? ", IP:127.0.0.1" : "")
            basicConstraints = CA:FALSE
            extendedKeyUsage = serverAuth

            """.write(to: extensions, atomically: true, encoding: .utf8)
        try Self.openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", key, "-out", request, "-subj", "/CN=\(dnsName) (\(name))"])
        try Self.openssl(["x509", "-req", "-in", request, "-CA", caPath, "-CAkey", caKey, "-CAcreateserial",
                          "-days", "2", "-extfile", extensions.path, "-out", certificate])
        return (certificate, key)
    }

    private static func openssl(_ arguments: [String]) throws {
        let openssl = try TestTools.path(of: "openssl", package: "openssl")
        let run = try TestTools.run(openssl, arguments)
        if run.status != 0 {
            throw TestTools.Missing(description: "openssl \(arguments.joined(separator: " ")) failed:\n\(run.output)")
        }
    }
}

/// The `tls:`, `listen_tls` and `listen_https` lines of a test config, on free ports.
struct EncryptedListeners {
    let dotPort: Int
    let dohPort: Int
    let certificate: String
    let key: String

    init(certificate: String, key: String) throws {
        dotPort = try TestTools.freePort()
        dohPort = try TestTools.freePort()
        self.certificate = certificate
        self.key = key
    }

    var config: String {
        """
        tls: { certificate: "\(certificate)", key: "\(key)" }
        listen_tls: ["127.0.0.1:\(dotPort)"]
        listen_https: ["127.0.0.1:\(dohPort)"]
        """
    }
}

/// Real encrypted-DNS clients: kdig (knot-dnsutils), dig (bind9-dnsutils) and curl, each
/// checking the server's certificate against `ca` and the name resolver.example.
struct EncryptedClients {
    let ca: String
    var hostname = "resolver.example"

    /// kdig over `transport` ("+tls" or "+https") to `port`; what it printed and its status.
    func kdig(_ transport: String, port: Int, _ name: String, _ type: String = "A",
              _ options: [String] = []) throws -> (status: Int32, output: String) {
        let kdig = try TestTools.path(of: "kdig", package: "knot-dnsutils")
        return try TestTools.run(kdig, ["@127.0.0.1", "-p", "\(port)", transport, "+tls-ca=\(ca)",
                                        "+tls-hostname=\(hostname)", "+edns", "+timeout=5", "+retry=0",
                                        name, type] + options, seconds: 30)
    }

    /// dig over `transport` ("+tls" or "+https") to `port`.
    func dig(_ transport: String, port: Int, _ name: String, _ type: String = "A",
             _ options: [String] = []) throws -> Dig.Result {
        let dig = try TestTools.path(of: "dig", package: "bind9-dnsutils")
        let run = try TestTools.run(dig, ["@127.0.0.1", "-p", "\(port)", transport, "+tls-ca=\(ca)",
                                          "+tls-hostname=\(hostname)", "+tries=1", "+time=5", "+nocookie",
                                          name, type] + options, seconds: 30)
        return Dig.Result(output: run.output)
    }

    /// What curl got from https://resolver.example:port/PATH (resolved to 127.0.0.1).
    struct HTTPReply {
        let status: Int
        let headers: String
        let body: [UInt8]
        let output: String
    }

    /// curl of `path` with `arguments` (`--data-binary`, `-H`, `--http1.1`...).
    func curl(port: Int, path: String, _ arguments: [String] = [], folder: URL) throws -> HTTPReply {
        let curl = try TestTools.path(of: "curl", package: "curl")
        let tag = UUID().uuidString
        let headers = folder.appendingPathComponent("curl-\(tag).headers")
        let body = folder.appendingPathComponent("curl-\(tag).body")
        let run = try TestTools.run(curl, ["-sS", "--max-time", "10", "--cacert", ca,
                                           "--resolve", "\(hostname):\(port):127.0.0.1",
                                           "-D", headers.path, "-o", body.path, "-w", "%{http_code}"]
                                    + arguments + ["https://\(hostname):\(port)\(path)"], seconds: 30)
        let status = Int(run.output.suffix(3)) ?? -1
        return HTTPReply(status: status, headers: (try? String(contentsOf: headers, encoding: .utf8)) ?? "",
                         body: (try? [UInt8](Data(contentsOf: body))) ?? [], output: run.output)
    }

    /// base64url without padding (RFC 8484's `?dns=`).
    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// A DNS message read by ldns, for the answers curl saves as bytes.
struct ReadMessage {
    let rcode: UInt8
    /// The answer section, one record a line, as ldns prints it.
    let answer: [String]
    /// The Extended DNS Error code and extra text, when the message has one.
    let ede: (code: UInt16, text: String)?
    /// Whether the OPT record holds a Padding option (RFC 7830), and the message's length.
    let padded: Bool
    let length: Int

    init(_ bytes: [UInt8]) throws {
        var packet: UnsafeMutablePointer<ldns_pkt>? = nil
        let status = bytes.withUnsafeBufferPointer { ldns_wire2pkt(&packet, $0.baseAddress, $0.count) }
        guard status == LDNS_STATUS_OK, let packet else {
            throw TestTools.Missing(description: "not a DNS message (\(bytes.count) bytes)")
        }
        defer { ldns_pkt_free(packet) }
        rcode = UInt8(ldns_pkt_get_rcode(packet).rawValue)
        var lines: [String] = []
        if let records = ldns_pkt_answer(packet) {
            for index in 0..<ldns_rr_list_rr_count(records) {
                if let text = ldns_rr2str(ldns_rr_list_rr(records, index)) {
                    lines.append(String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines))
                    free(text)
                }
            }
        }
        answer = lines
        var found: (UInt16, String)? = nil
        var padding = false
        if let options = ldns_pkt_edns_get_option_list(packet) {
            for index in 0..<ldns_edns_option_list_get_count(options) {
                guard let option = ldns_edns_option_list_get_option(options, index) else { continue }
                let size = ldns_edns_get_size(option)
                let data = ldns_edns_get_data(option)
                if ldns_edns_get_code(option) == LDNS_EDNS_PADDING { padding = true }
                if ldns_edns_get_code(option) == LDNS_EDNS_EDE, size >= 2, let data {
                    let code = UInt16(data[0]) << 8 | UInt16(data[1])
                    found = (code, String(decoding: UnsafeBufferPointer(start: data + 2, count: size - 2), as: UTF8.self))
                }
            }
        }
        ede = found
        padded = padding
        length = bytes.count
    }
}

/// unbound serving DNS over TLS (`tls-service-key`, `tls-service-pem`, `tls-port`) on a free
/// loopback port, answering `local-data` for upstream.example only: an upstream over TLS.
final class UnboundTLSUpstream {
    let port: Int
    let server: ServerProcess

    init(folder: URL, certificate: String, key: String, port: Int? = nil) throws {
        let unbound = try TestTools.path(of: "unbound", package: "unbound")
        self.port = try port ?? TestTools.freePort()
        let config = folder.appendingPathComponent("unbound-\(self.port).conf")
        try """
            server:
                interface: 127.0.0.1@\(self.port)
                tls-port: \(self.port)
                tls-service-key: "\(key)"
                tls-service-pem: "\(certificate)"
                do-daemonize: no
                username: ""
                chroot: ""
                directory: "\(folder.path)"
                pidfile: ""
                use-syslog: no
                logfile: ""
                verbosity: 1
                do-ip6: no
                num-threads: 1
                access-control: 127.0.0.0/8 allow
                module-config: "iterator"
                local-zone: "upstream.example." static
                local-data: "www.upstream.example. 300 IN A 192.0.2.77"
                local-data: "two.upstream.example. 300 IN A 192.0.2.78"
                local-data: "three.upstream.example. 300 IN A 192.0.2.79"
                local-data: "four.upstream.example. 300 IN A 192.0.2.80"
                local-data: "after.upstream.example. 300 IN A 192.0.2.81"
            remote-control:
                control-enable: no

            """.write(to: config, atomically: true, encoding: .utf8)
        server = try ServerProcess(executable: unbound, arguments: ["-d", "-c", config.path],
                                   logURL: folder.appendingPathComponent("unbound-\(self.port).log"))
        let server = self.server
        guard TestTools.waitUntil(attempts: 200, { server.log.contains("start of service") || !server.isRunning }),
              server.isRunning else {
            throw TestTools.Missing(description: "unbound did not start:\n\(server.log)")
        }
    }

    deinit { server.stop() }

    /// Established TCP connections to this upstream (from /proc/net/tcp: the client ends whose
    /// remote port is this one).
    func establishedConnections() -> Int {
        let table = Self.procNetTCP()
        let hex = String(port, radix: 16, uppercase: true)
        let portHex = String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        return table.split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[2].hasSuffix(":" + portHex) && fields[3] == "01"
        }.count
    }

    /// All of /proc/net/tcp: read to its end (String(contentsOfFile:) stops after one page of it).
    static func procNetTCP() -> String {
        guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return "" }
        defer { try? handle.close() }
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }
}

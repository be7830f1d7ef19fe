import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real HTTPS list server for the download tests: Python's http.server wrapped in TLS
/// (Fixtures/list_server.py), with a certificate for 127.0.0.1 from a CA made by openssl. It
/// serves the files of `root` and logs every request with its status and conditional headers.
final class ListServer {
    let port: Int
    let root: URL
    let logURL: URL
    let certificates: TestCertificates
    private(set) var server: ServerProcess?

    var caPath: String { certificates.caPath }

    /// Plain HTTP instead of HTTPS (a redirect target for the test that refuses it).
    let plain: Bool

    /// A CA and a certificate in `folder`; the server itself starts with `start()`. Without
    /// `namesItsAddress` the certificate names lists.example only, not the 127.0.0.1 of its URL.
    init(folder: URL, port chosen: Int? = nil, plain: Bool = false, namesItsAddress: Bool = true) throws {
        self.plain = plain
        root = folder.appendingPathComponent("served-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        logURL = root.appendingPathComponent("requests.log")
        certificates = try TestCertificates(folder: root, name: "lists")
        try certificates.issue("list-server", dnsName: "lists.example", loopbackAddress: namesItsAddress)
        port = try chosen ?? TestTools.freePort()
    }

    func url(_ name: String) -> String { "\(plain ? "http" : "https")://127.0.0.1:\(port)/\(name)" }

    func start() throws {
        let python = try TestTools.path(of: "python3", package: "python3")
        let script = TestTools.packageRoot.appendingPathComponent("Tests/BlockResolverTests/Fixtures/list_server.py").path
        var arguments = ["-u", script, "--port", "\(port)", "--root", root.path, "--log", logURL.path]
        arguments += plain ? ["--plain"] : ["--cert", root.appendingPathComponent("list-server.crt").path,
                                            "--key", root.appendingPathComponent("list-server.key").path]
        let process = try ServerProcess(executable: python, arguments: arguments,
                                        logURL: root.appendingPathComponent("server-output.log"))
        server = process
        guard TestTools.waitUntil({ process.log.contains("listening on") || !process.isRunning }), process.isRunning else {
            throw TestTools.Missing(description: "the list server did not start:\n\(process.log)")
        }
    }

    deinit { server?.stop() }

    /// Writes a served file, or a control file next to it (`name.gzip`, `name.cut`, `name.stall`, `name.status`).
    func write(_ name: String, _ contents: String) throws {
        let temporary = root.appendingPathComponent(".\(name).new")
        try contents.write(to: temporary, atomically: false, encoding: .utf8)
        _ = rename(temporary.path, root.appendingPathComponent(name).path)
    }

    func remove(_ name: String) {
        try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
    }

    /// The request lines logged so far, oldest first.
    var requests: [String] {
        ((try? String(contentsOf: logURL, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

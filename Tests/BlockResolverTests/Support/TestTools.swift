import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Finding the tools and the binary the integration tests need. A missing tool is a failure
/// with a message saying how to get it, never a skip: `scripts/test` installs them all.
enum TestTools {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// Absolute path of `tool` on PATH (or in /usr/sbin, /usr/bin), or a thrown `Missing`.
    static func path(of tool: String, package: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for folder in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin"] {
            let candidate = folder + "/" + tool
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw Missing(description: "\(tool) not found: install the Debian package \(package) (scripts/test does)")
    }

    /// The `block-resolver` executable built next to the test bundle.
    static func binary() throws -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = bundle.deletingLastPathComponent()
        if folder.lastPathComponent.hasSuffix(".xctest") { folder = folder.deletingLastPathComponent() }
        for candidate in [folder, packageRoot.appendingPathComponent(".build/debug")] {
            let path = candidate.appendingPathComponent("block-resolver").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw Missing(description: "block-resolver binary not found next to \(bundle.path); run `swift build` first")
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// A loopback port that is free for both UDP and TCP right now.
    static func freePort() throws -> Int {
        for _ in 0..<50 {
            let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(tcp) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                    bind(tcp, raw, length) == 0 && getsockname(tcp, raw, &length) == 0
                }
            }
            guard bound else { continue }
            let port = Int(UInt16(bigEndian: address.sin_port))
            let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(udp) }
            let udpBound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(udp, $0, length) == 0 }
            }
            if udpBound { return port }
        }
        throw Missing(description: "no free loopback port found")
    }

    /// Runs `executable` with `arguments` to the end; its exit status and everything it printed.
    /// A run that has not ended after `seconds` is killed and reported with status -1, so a
    /// command that hangs fails its test instead of stalling the suite.
    static func run(_ executable: String, _ arguments: [String],
                    seconds: Int = 60) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = OutputCollector()
        let reader = Thread { output.set(pipe.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        if !waitUntil(attempts: seconds * 20, { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            _ = waitUntil(attempts: 100) { reader.isFinished }
            return (-1, output.text + "\n(killed: still running after \(seconds) s)")
        }
        process.waitUntilExit()
        _ = waitUntil(attempts: 200) { reader.isFinished }
        return (process.terminationStatus, output.text)
    }

    /// The output of a run, handed from its reader thread.
    private final class OutputCollector: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()

        func set(_ value: Data) { lock.withLock { data = value } }
        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
    }

    /// A fresh temporary folder for one test's config and lists.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("block-resolver-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Polls `condition` every 50 ms, up to `attempts` times; for waiting on processes to start.
    static func waitUntil(attempts: Int = 400, _ condition: () -> Bool) -> Bool {
        for _ in 0..<attempts {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// `GET path` over HTTP/1.0 on 127.0.0.1:port: the status line and the body, or nil.
    static func httpGet(port: Int, path: String) throws -> (status: String, body: String)? {
        let connection = try RawDNS.TCPConnection(port: port)
        connection.sendRaw(Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let got = recv(connection.fd, &buffer, buffer.count, 0)
            if got <= 0 { break }
            data += buffer[0..<got]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        return (String(text[..<split.lowerBound].prefix { $0 != "\r" }), String(text[split.upperBound...]))
    }
}

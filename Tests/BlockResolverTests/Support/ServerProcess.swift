import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started by a test, with its output captured to a file. Stopped by PID.
final class ServerProcess {
    let process = Process()
    let logURL: URL

    init(executable: String, arguments: [String], logURL: URL) throws {
        self.logURL = logURL
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }

    func signal(_ number: Int32) {
        if process.isRunning { kill(pid, number) }
    }

    /// Sends SIGTERM and waits for the exit (SIGKILL if it does not come); returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        signal(SIGTERM)
        if !TestTools.waitUntil(attempts: 200, { !process.isRunning }) {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}

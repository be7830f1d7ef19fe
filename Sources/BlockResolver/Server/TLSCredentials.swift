import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOSSL
import ResolverConfig

/// The server certificate of the encrypted listeners (`tls:`), as one `NIOSSLContext` per
/// protocol: DoT offers ALPN "dot" (RFC 7858), DoH "h2" and "http/1.1" (RFC 8484). TLS 1.2 and
/// 1.3 only.
///
/// Concurrency: the contexts sit behind one lock, taken once per new connection to copy a
/// reference (never per query). A SIGHUP reads the files into new contexts off to the side and
/// swaps them in; the next connection gets the new certificate, open ones keep theirs. Files that
/// cannot be used (missing, not PEM, a key that does not match) leave the contexts in use.
final class TLSCredentials: Sendable {
    /// The contexts made from one reading of the files.
    struct Contexts: Sendable {
        let dot: NIOSSLContext
        let doh: NIOSSLContext
        let files: ResolverSettings.TLSFiles
        /// The leaf certificate's subject and end of validity, for the log.
        let summary: String
    }

    /// Why the files cannot be served; names the file.
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    private let current: NIOLockedValueBox<Contexts>

    init(files: ResolverSettings.TLSFiles) throws {
        current = NIOLockedValueBox(try Self.load(files))
    }

    var dot: NIOSSLContext { current.withLockedValue { $0.dot } }
    var doh: NIOSSLContext { current.withLockedValue { $0.doh } }
    var summary: String { current.withLockedValue { $0.summary } }

    /// Reads `files` again (SIGHUP); on any error the contexts in use stay, and the log says why.
    func reload(_ files: ResolverSettings.TLSFiles, logger: Logger) {
        do {
            let contexts = try Self.load(files)
            current.withLockedValue { $0 = contexts }
            logger.info("tls certificate loaded", metadata: ["certificate": "\(files.certificate)",
                                                            "subject": "\(contexts.summary)"])
        } catch {
            logger.error("tls certificate not reloaded; still serving the previous one",
                         metadata: ["error": "\(error)"])
        }
    }

    /// The contexts of `files`, or a `LoadError` naming the file that cannot be used.
    static func load(_ files: ResolverSettings.TLSFiles) throws -> Contexts {
        let chain: [NIOSSLCertificate]
        do {
            try requireReadable(files.certificate, key: "tls.certificate")
            chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError(description: "tls.certificate \(files.certificate): not a PEM certificate (\(error))")
        }
        guard let leaf = chain.first else {
            throw LoadError(description: "tls.certificate \(files.certificate): holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            try requireReadable(files.key, key: "tls.key")
            key = try NIOSSLPrivateKey(file: files.key, format: .pem)
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError(description: "tls.key \(files.key): not a PEM private key (\(error))")
        }
        func context(_ protocols: [String]) throws -> NIOSSLContext {
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            configuration.maximumTLSVersion = .tlsv13
            configuration.applicationProtocols = protocols
            do {
                return try NIOSSLContext(configuration: configuration)
            } catch {
                throw LoadError(description: "tls.key \(files.key) does not fit tls.certificate \(files.certificate) "
                                + "(\(error))")
            }
        }
        let notAfter = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        return Contexts(dot: try context(["dot"]), doh: try context(["h2", "http/1.1"]), files: files,
                        summary: "\(leaf), valid until \(notAfter)")
    }

    /// Throws a clear reason when `path` is missing or unreadable (BoringSSL's error would not say).
    private static func requireReadable(_ path: String, key: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw LoadError(description: "\(key) \(path): no such file")
        }
        if isFolder.boolValue { throw LoadError(description: "\(key) \(path): is a folder") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw LoadError(description: "\(key) \(path): permission denied")
        }
    }
}

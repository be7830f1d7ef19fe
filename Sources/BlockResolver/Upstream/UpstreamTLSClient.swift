import NIOSSL
import ResolverConfig

/// How the resolver speaks TLS to one upstream (RFC 7858): a client context that checks the
/// certificate chain against `tls.ca` (or the system's trust store) and the certificate's name
/// against `tls.name` (or, without a name, the address itself), TLS 1.2 and 1.3, ALPN "dot".
struct UpstreamTLSClient: Sendable {
    let settings: ResolverSettings.UpstreamTLS
    let context: NIOSSLContext
    /// The name sent in SNI and checked in the certificate; nil checks the IP address.
    var serverHostname: String? { settings.name }

    struct SetupError: Error, CustomStringConvertible {
        let description: String
    }

    init(_ settings: ResolverSettings.UpstreamTLS, upstream: String) throws {
        self.settings = settings
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.certificateVerification = .fullVerification
        configuration.applicationProtocols = ["dot"]
        if let ca = settings.ca {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(ca)
            } catch {
                throw SetupError(description: "upstream \(upstream): tls.ca \(ca): cannot read PEM certificates (\(error))")
            }
            guard !roots.isEmpty else {
                throw SetupError(description: "upstream \(upstream): tls.ca \(ca): holds no PEM certificate")
            }
            configuration.trustRoots = .certificates(roots)
        } else {
            configuration.trustRoots = .default
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw SetupError(description: "upstream \(upstream): cannot set up TLS (\(error))")
        }
    }
}

import NIOCore

/// One upstream resolver as the pool tries it: its address, and what is known of it (health,
/// smoothed latency, metrics). A class with the lifetime of the process, not of a pool: a reload
/// that keeps this upstream hands the same target to the next pool.
final class UpstreamTarget: Sendable {
    let address: SocketAddress
    /// As the config writes it (`host:port`), for logs and metric labels.
    let name: String
    /// Asked over TCP (or TLS) only: never over UDP, and a truncated answer is not asked again.
    let tcpOnly: Bool
    /// Set for an upstream asked over TLS (RFC 7858), on kept connections (`TLSUpstreamConnection`).
    let tls: UpstreamTLSClient?
    let health = UpstreamHealth()
    let metrics: UpstreamMetrics?

    init(address: SocketAddress, name: String, tcpOnly: Bool, tls: UpstreamTLSClient? = nil,
         metrics: UpstreamMetrics?) {
        self.address = address
        self.name = name
        self.tcpOnly = tcpOnly || tls != nil
        self.tls = tls
        self.metrics = metrics
    }

    /// Tells this target's connections from those of another upstream (or the same address with
    /// other TLS settings) in a loop's `UpstreamSocketPool`.
    var connectionKey: String {
        guard let tls else { return name }
        return "\(name)#\(tls.settings.name ?? "")#\(tls.settings.ca ?? "")"
    }
}

import NIOCore

/// One upstream resolver as the pool tries it: its address, and what is known of it (health,
/// smoothed latency, metrics). A class with the lifetime of the process, not of a pool: a reload
/// that keeps this upstream hands the same target to the next pool.
final class UpstreamTarget: Sendable {
    let address: SocketAddress
    /// As the config writes it (`host:port`), for logs and metric labels.
    let name: String
    let tcpOnly: Bool
    let health = UpstreamHealth()
    let metrics: UpstreamMetrics?

    init(address: SocketAddress, name: String, tcpOnly: Bool, metrics: UpstreamMetrics?) {
        self.address = address
        self.name = name
        self.tcpOnly = tcpOnly
        self.metrics = metrics
    }
}

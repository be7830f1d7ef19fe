import NIOCore

/// Token buckets per client network (/24 for IPv4, /56 for IPv6), one set per event loop. With
/// SO_REUSEPORT a client's datagrams always reach the same loop, so per-loop buckets limit each
/// client as a whole.
final class RateLimiter {
    private struct Bucket {
        var tokens: Double
        var last: NIODeadline
    }

    private var buckets: [UInt64: Bucket] = [:]
    private var lastSweep = NIODeadline.now()

    /// Whether a query from `client` fits in its network's bucket now (and takes a token if so).
    func allow(_ client: SocketAddress?, qps: Int, burst: Int, now: NIODeadline) -> Bool {
        guard qps > 0, let key = Self.networkKey(client) else { return true }
        if buckets.count > 100_000 && now - lastSweep > .seconds(10) { sweep(now: now, qps: qps, burst: burst) }
        var bucket = buckets[key] ?? Bucket(tokens: Double(burst), last: now)
        let elapsed = Double((now - bucket.last).nanoseconds) / 1e9
        bucket.tokens = min(Double(burst), bucket.tokens + elapsed * Double(qps))
        bucket.last = now
        let allowed = bucket.tokens >= 1
        if allowed { bucket.tokens -= 1 }
        buckets[key] = bucket
        return allowed
    }

    /// Forgets buckets that are full again, so the table does not grow with every address seen.
    private func sweep(now: NIODeadline, qps: Int, burst: Int) {
        lastSweep = now
        let refill = TimeAmount.nanoseconds(Int64(Double(burst) / Double(qps) * 1e9))
        buckets = buckets.filter { now - $0.value.last < refill }
    }

    /// The client's /24 or /56 as one number.
    static func networkKey(_ address: SocketAddress?) -> UInt64? {
        switch address {
        case .v4(let v4):
            return UInt64(UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 8)
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            return withUnsafeBytes(of: &raw) { bytes in
                // The first 7 bytes (56 bits), with a marker bit so it never equals an IPv4 key.
                bytes.prefix(7).reduce(UInt64(1)) { $0 << 8 | UInt64($1) }
            }
        default:
            return nil
        }
    }
}

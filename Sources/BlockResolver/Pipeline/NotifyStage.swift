import Logging
import NIOConcurrencyHelpers
import NIOCore
import ResolverConfig
#if canImport(Glibc)
import Glibc
#endif

/// A NOTIFY (RFC 1996) on the listen sockets: accepted only from a listed primary of a list that
/// transfers the zone it names, and, when that list has a TSIG key, only signed with it. An
/// accepted NOTIFY is answered at once and makes the list due for a SOA check on the transfer
/// thread (`ZoneTransferService`); nothing is transferred on the event loop. Anything else is
/// answered REFUSED (NOTAUTH for a bad or missing signature) and counted.
final class NotifyStage: Sendable {
    private let logger: Logger
    /// Who is told of an accepted NOTIFY: the transfer service, set once it runs.
    private let receiver = NIOLockedValueBox<(@Sendable (String) -> Void)?>(nil)
    private let metrics = NIOLockedValueBox<ResolverMetrics?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    /// Sets who hears of accepted NOTIFY messages (the list's name), and the metrics that count them.
    func deliver(to receiver: @escaping @Sendable (String) -> Void, metrics: ResolverMetrics?) {
        self.receiver.withLockedValue { $0 = receiver }
        self.metrics.withLockedValue { $0 = metrics }
    }

    static let rcodeREFUSED: UInt8 = 5
    static let rcodeNOTAUTH: UInt8 = 9

    /// The answer to the NOTIFY in `bytes` from `client`, judged against `settings`.
    func answer(_ bytes: UnsafeRawBufferPointer, client: SocketAddress?, settings: ResolverSettings) -> [UInt8]? {
        guard let notify = TransferMessage.notify(bytes) else {
            return refuse(bytes, rcode: 1, reason: "not a NOTIFY ldns can read", client: client, zone: nil)
        }
        let zone = DomainName.presentation(ofWire: notify.zone)
        guard let list = settings.lists.first(where: { $0.transfer?.zoneWire == notify.zone }),
              let transfer = list.transfer
        else { return refuse(bytes, rcode: Self.rcodeREFUSED, reason: "no list transfers this zone", client: client, zone: zone) }
        guard let address = client?.ipAddress, transfer.primaries.contains(where: { Self.sameAddress($0.host, address) })
        else { return refuse(bytes, rcode: Self.rcodeREFUSED, reason: "not from a listed primary", client: client, zone: zone) }
        var key: TransferMessage.Key? = nil
        if let tsig = transfer.tsig {
            let wanted = TransferMessage.Key(name: tsig.name, algorithm: tsig.algorithm, secret: tsig.secret)
            guard TransferMessage.notifyVerifies(bytes, key: wanted) else {
                return refuse(bytes, rcode: Self.rcodeNOTAUTH,
                              reason: notify.signed ? "TSIG signature does not verify" : "not signed with the list's TSIG key",
                              client: client, zone: zone)
            }
            key = wanted
        }
        metrics.withLockedValue { $0 }?.notifyReceived(result: "accepted")
        logger.info("NOTIFY accepted", metadata: ["list": "\(list.name)", "zone": "\(zone)", "from": "\(address)"])
        receiver.withLockedValue { $0 }?(list.name)
        return TransferMessage.notifyAnswer(bytes, rcode: 0, key: key)
    }

    private func refuse(_ bytes: UnsafeRawBufferPointer, rcode: UInt8, reason: String, client: SocketAddress?,
                        zone: String?) -> [UInt8]? {
        metrics.withLockedValue { $0 }?.notifyReceived(result: "refused")
        // Notice, not warning: anyone can send these, and each is counted (dns_notify_total).
        logger.notice("NOTIFY refused", metadata: [
            "reason": "\(reason)", "from": "\(client?.ipAddress ?? "?")", "zone": "\(zone ?? "?")",
        ])
        return TransferMessage.notifyAnswer(bytes, rcode: rcode, key: nil)
    }

    /// Whether two IP literals are the same address (an IPv6 address has many spellings).
    static func sameAddress(_ a: String, _ b: String) -> Bool {
        var left = in6_addr()
        var right = in6_addr()
        if inet_pton(AF_INET6, a, &left) == 1, inet_pton(AF_INET6, b, &right) == 1 {
            return withUnsafeBytes(of: left) { l in withUnsafeBytes(of: right) { r in l.elementsEqual(r) } }
        }
        return a == b
    }
}

import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import ResolverConfig
import UnixSignals

/// The parts of `run` around serving: the query log, the signals, the shutdown.
extension RunCommand {
    /// The query log of `settings`, started; nil when it is off.
    static func startQueryLog(_ settings: ResolverSettings, logger: Logger) throws -> QueryLog? {
        guard let mode = QueryLog.Mode(rawValue: settings.queryLogMode), mode != .off else { return nil }
        let log = QueryLog(path: settings.queryLogPath, mode: mode, loops: settings.threads)
        do {
            try log.start()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        logger.info("query log", metadata: ["path": "\(settings.queryLogPath)", "mode": "\(mode.rawValue)"])
        return log
    }

    /// Handles SIGHUP (reload; the tls certificate too) and SIGUSR1 (reopen the query log) until
    /// SIGTERM or SIGINT.
    static func handleSignals(_ signals: UnixSignalsSequence, store: PolicyStore, upstreams: UpstreamSet,
                              transfers: ZoneTransferService, fetches: ListFetchService, queryLog: QueryLog?,
                              tls: TLSCredentials?,
                              logger: Logger) async {
        for await signal in signals {
            switch signal {
            case .sighup:
                logger.info("SIGHUP: reloading")
                switch await BackgroundWork.run({ store.reload(logger: logger) }) {
                case .success(let snapshot):
                    applyUpstreams(snapshot.settings, to: upstreams, logger: logger)
                    transfers.checkAll()
                case .failure(let error):
                    logger.error("reload failed; still serving the previous policy", metadata: [
                        "error": "\(error)", "generation": "\(store.current.generation)",
                    ])
                }
                // Downloaded lists are asked for now even when the reload failed: the lists in service.
                fetches.fetchAll()
                // The files named by the config in force (the new one, or the old one when the
                // reload failed); the listeners were set up at start and need a certificate.
                if let tls, let files = store.current.settings.tls {
                    await BackgroundWork.run({ tls.reload(files, logger: logger) })
                }
                // The old policy is freed once every loop has taken the new one (within a moment).
                Task.detached {
                    try? await Task.sleep(for: .seconds(2))
                    BackgroundWork.releaseFreedMemory()
                }
            case .sigusr1:
                logger.info("SIGUSR1: reopening the query log")
                queryLog?.reopen()
            default:
                logger.info("\(signal): shutting down")
                return
            }
        }
    }

    /// Takes the upstream settings of a reloaded config; an unchanged set keeps its pool as is.
    static func applyUpstreams(_ settings: ResolverSettings, to upstreams: UpstreamSet, logger: Logger) {
        do {
            if try upstreams.apply(settings) {
                logger.info("upstreams changed", metadata: [
                    "upstreams": "\(settings.upstreams.map(\.description).joined(separator: ","))",
                ])
            }
        } catch {
            logger.error("cannot use the new upstreams; keeping the old ones", metadata: ["error": "\(error)"])
        }
    }

    /// Stops taking queries, waits (bounded) for the forwards in flight, then closes everything.
    static func shutdown(server: DNSServer, pipeline: QueryPipeline, metrics: MetricsServer?, queryLog: QueryLog?,
                         group: MultiThreadedEventLoopGroup) async {
        await server.stopAccepting()
        // Forwarded queries finish within the query deadline; wait for them, but not forever.
        let last = pipeline.store.current.settings
        let limit = ContinuousClock.now + .milliseconds(min(10_000, last.queryTimeoutMilliseconds + 200))
        while pipeline.forward.inFlight.load(ordering: .relaxed) > 0 && ContinuousClock.now < limit {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // Let the last answers leave before the sockets close.
        try? await Task.sleep(for: .milliseconds(20))
        await server.close()
        await metrics?.close()
        queryLog?.close()
        try? await group.shutdownGracefully()
    }
}

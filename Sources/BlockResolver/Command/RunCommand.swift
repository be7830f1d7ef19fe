import ArgumentParser
import Dispatch
import Atomics
import Logging
import NIOCore
import NIOPosix
import ResolverConfig
import UnixSignals

/// `block-resolver run`: serve DNS until SIGTERM or SIGINT; reload lists on SIGHUP.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve DNS on the config's listen addresses (UDP and TCP; DoT and DoH on listen_tls, listen_https).",
        discussion: """
            Signals: SIGHUP re-reads the config and every list, builds a complete new policy and \
            swaps it in; if anything fails the old policy keeps serving and the reason is logged. \
            A list with `transfer:` is also checked with its primary at once (SOA, then IXFR or AXFR); \
            such lists follow their primary by themselves too (NOTIFY on the listen sockets, refresh). \
            A list with `fetch:` is downloaded again at once (a conditional request: a 304 costs \
            nothing); such lists are downloaded every refresh_s by themselves too. \
            SIGHUP also re-reads the tls certificate and key: the next DoT and DoH connection gets \
            the new certificate; files that cannot be used keep the old one (logged). \
            SIGUSR1 reopens the query log (after logrotate moved it). SIGTERM or SIGINT stop taking \
            queries, finish those in flight, flush the query log, and exit 0.

            With `user:` in the config, the sockets are bound first (port 53 needs root or \
            CAP_NET_BIND_SERVICE) and the process then runs as that user.

            Logs go to standard error. Exit status 1 when the config, a list or a listen address \
            cannot be used at start.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// Serves on the cooperative thread pool while the main thread waits here. The main thread must
    /// stay alive (an async `main` would end it): dropping privileges switches every live thread,
    /// and /proc and `ps` report the process's user from the main thread.
    func run() throws {
        BackgroundWork.keepLargeAllocationsOutOfTheHeap()
        let outcome = RunOutcome()
        let finished = DispatchSemaphore(value: 0)
        let command = self
        Task {
            do {
                try await command.serve()
            } catch {
                outcome.error = error
            }
            finished.signal()
        }
        finished.wait()
        if let error = outcome.error { throw error }
    }

    /// The error `serve` ended with, handed from its task to the waiting main thread.
    private final class RunOutcome: @unchecked Sendable {
        var error: Error?  // written by the task before `signal`, read after `wait`
    }

    func serve() async throws {
        let logger = Self.bootstrapLogging(Logger.Level(rawValue: logLevel) ?? .info)
        // Trap the signals before the (possibly long) first load: SIGHUP's default action would
        // otherwise kill the process when an operator reloads a little too early.
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigterm, .sigint, .sigusr1)

        let loader = ConfigLoader()
        let metrics = ResolverMetrics()
        // The first policy is made inside a function so that nothing here keeps it alive: after
        // the first reload the store holds the only reference, and the old lists are freed.
        guard let store = Self.loadInitialPolicy(configPath: options.config, loader: loader, metrics: metrics,
                                                 logger: logger) else {
            throw ExitCode.failure
        }
        let settings = store.current.settings
        // List schedules (active_from/active_until) turn on and off at their moment, no reload needed.
        let schedule = Task { await store.runSchedule(logger: logger) }
        defer { schedule.cancel() }
        let descriptors = FileLimit.raise()
        let listeners = settings.listen.count + settings.listenTLS.count + settings.listenHTTPS.count
        if let problem = FileLimit.tooLow(descriptors, threads: settings.threads, listeners: listeners) {
            logger.critical("cannot start", metadata: ["error": "\(problem)"])
            throw ExitCode.failure
        }
        // Each forwarded query holds a socket until answered; keep room for listeners and lists.
        let pipeline = QueryPipeline(store: store, logger: logger,
                                     maxInFlight: max(64, min(10_000, (descriptors - 256) / 2)))
        logger.info("file descriptor limit", metadata: ["limit": "\(descriptors)",
                                                        "max_forwards": "\(pipeline.forward.maxInFlight)"])
        // The cache and the upstreams live as long as the process; a reload only replaces policy.
        let cache = AnswerCache()
        let upstreams: UpstreamSet
        do {
            upstreams = try UpstreamSet(settings: settings, metrics: metrics)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        metrics.refreshBeforeExposition { [forward = pipeline.forward] in
            metrics.inFlight.record(forward.inFlight.load(ordering: .relaxed))
            metrics.cacheEntries.record(cache.count)
            upstreams.recordHealth()
        }

        let tls: TLSCredentials?
        do {
            tls = try settings.tls.map { try TLSCredentials(files: $0) }
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        if let tls { logger.info("tls certificate loaded", metadata: ["subject": "\(tls.summary)"]) }
        let queryLog = try Self.startQueryLog(settings, logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.threads)
        let server: DNSServer
        var metricsServer: MetricsServer? = nil
        do {
            // Before the DNS listeners and the upstream sockets: short of descriptors, the upstream
            // pool is what gives way (it opens its empty slots later), not the metrics.
            if let address = settings.metricsListen {
                metricsServer = try await MetricsServer.start(address: address, metrics: metrics, monitor: pipeline.monitor)
                logger.info("metrics", metadata: ["address": "http://\(address)/metrics"])
            }
            server = try await DNSServer.start(settings: settings, pipeline: pipeline, cache: cache, upstreams: upstreams,
                                               group: group, metrics: metrics, queryLog: queryLog, tls: tls,
                                               logger: logger)
            metrics.refreshBeforeExposition { [pools = server.upstreamPools] in
                for pool in pools { pool.recordSockets() }
            }
            try Privileges.drop(user: settings.user, group: settings.group, logger: logger)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            await metricsServer?.close()
            queryLog?.close()
            try? await group.shutdownGracefully()
            throw ExitCode.failure
        }
        // Transfers of RPZ zones from their primaries, on a thread of their own; NOTIFY wakes it.
        let transfers = ZoneTransferService(store: store, metrics: metrics, logger: logger)
        pipeline.notify.deliver(to: { [transfers] list in transfers.check(list: list) }, metrics: metrics)
        transfers.start()
        defer { transfers.stop() }
        // Downloads of lists over HTTPS, on a thread and an event loop group of their own.
        let fetches = ListFetchService(store: store, metrics: metrics, logger: logger)
        fetches.start()
        defer { fetches.stop() }
        logger.info("serving", metadata: ["upstreams": "\(settings.upstreams.map(\.description).joined(separator: ","))",
                                          "threads": "\(settings.threads)"])

        await Self.handleSignals(signals, store: store, upstreams: upstreams, transfers: transfers, fetches: fetches,
                                 queryLog: queryLog, tls: tls, logger: logger)
        await Self.shutdown(server: server, pipeline: pipeline, metrics: metricsServer, queryLog: queryLog,
                            group: group)
        logger.info("stopped")
    }

    /// Logs to standard error from `level` up.
    static func bootstrapLogging(_ level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "block-resolver")
    }

    /// Loads the config and its lists into a store, or logs why it cannot and returns nil.
    static func loadInitialPolicy(configPath: String, loader: ConfigLoader, metrics: ResolverMetrics,
                                  logger: Logger) -> PolicyStore? {
        do {
            let settings = try loader.load(path: configPath)
            if settings.upstreamsFromResolvConf {
                logger.info("no upstreams in the config; using /etc/resolv.conf",
                            metadata: ["upstreams": "\(settings.upstreams.map(\.description).joined(separator: ","))"])
            }
            let policy = try PolicyLoader(problemsKept: ListReport.problemsLogged).load(settings)
            let parts = try PolicySnapshot.Parts(generation: 1, settings: settings, policy: policy)
            ListReport.log(parts.policy, logger: logger)
            logger.info("policy ready", metadata: ["names": "\(parts.policy.table.uniqueCount)",
                                                   "lists": "\(parts.policy.lists.count)"])
            let store = PolicyStore(initial: parts, loader: loader, metrics: metrics)
            BackgroundWork.releaseFreedMemory()  // the parse buffers
            return store
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            return nil
        }
    }
}

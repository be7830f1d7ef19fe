import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One background thread, at `BackgroundWork.niceness`, that runs a job for each named list when
/// it is due: the zone transfers (`ZoneTransferService`) and the downloads (`ListFetchService`).
/// Lists run one at a time, the earliest due first. The job returns the seconds until that list
/// is due again, or nil when the list is gone from the config. A list marked due while its job
/// runs (a NOTIFY, a SIGHUP) runs again at once afterwards instead of waiting for that delay.
///
/// Event loops and the signal task only mark lists due (`makeDue`): a dictionary write under a
/// lock and a wake-up, never a wait for the job.
final class DueTimeWorker: @unchecked Sendable {
    private let threadName: String
    /// Guards `due` and `stopped`; the thread waits on it.
    private let condition = NSCondition()
    /// When each list is next due (`seconds` of the clock); `.infinity` while its job runs.
    private var due: [String: Double] = [:]
    private var stopped = false
    private let epoch = ContinuousClock.now

    init(threadName: String) {
        self.threadName = threadName
    }

    /// Seconds since the worker was made, on the monotonic clock.
    private var now: Double { Self.seconds(since: epoch) }

    /// Seconds from `start` until now, on the monotonic clock.
    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Starts the thread, which runs `job` for each list as it comes due until `stop`.
    func start(_ job: @escaping @Sendable (String) -> Double?) {
        let thread = Thread { [self] in
            // On Linux the nice value is per thread (setpriority(2)); the work yields to the event loops.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, BackgroundWork.niceness)
            run(job)
        }
        thread.name = threadName
        thread.start()
    }

    /// The thread ends after the job it runs now, if any.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// `names` are due at once. Cheap: called on an event loop or the signal task.
    func makeDue(_ names: [String]) {
        condition.lock()
        for name in names { due[name] = 0 }
        condition.signal()
        condition.unlock()
    }

    private func run(_ job: (String) -> Double?) {
        while let name = nextDue() {
            let delay = job(name)
            condition.lock()
            if let delay {
                if due[name] == .infinity { due[name] = now + delay }
            } else {
                due[name] = nil
            }
            condition.unlock()
        }
    }

    /// Waits for the list due first and marks it running; nil once stopped.
    private func nextDue() -> String? {
        condition.lock()
        defer { condition.unlock() }
        while !stopped {
            if let (name, at) = due.min(by: { $0.value < $1.value }).map({ ($0.key, $0.value) }) {
                let wait = at - now
                if wait <= 0 {
                    due[name] = .infinity
                    return name
                }
                _ = condition.wait(until: Date(timeIntervalSinceNow: min(wait, 60)))
            } else {
                _ = condition.wait(until: Date(timeIntervalSinceNow: 60))
            }
        }
        return nil
    }
}

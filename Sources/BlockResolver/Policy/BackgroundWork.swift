#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Runs heavy off-path work (a reload parsing millions of names) on a thread of its own at a
/// lower scheduling priority, so that on a busy machine the event loops keep their cores and
/// answers keep flowing while the new policy is built.
enum BackgroundWork {
    /// Niceness of the worker thread (0 = normal, 19 = lowest).
    static let niceness: Int32 = 10

    static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                #if canImport(Glibc)
                // On Linux the nice value is per thread, and `who` 0 is the calling thread (setpriority(2)).
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
                #endif
                continuation.resume(returning: work())
            }
            thread.name = "block-resolver-reload"
            thread.start()
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit: every forwarded query holds a socket while it waits.
enum FileLimit {
    /// Raises the soft limit to the hard limit and returns the soft limit now in force.
    static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur >= rlim_t(1 << 30) ? 1 << 30 : Int(limit.rlim_cur)
    }

    #if canImport(Glibc)
    private static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #endif
}

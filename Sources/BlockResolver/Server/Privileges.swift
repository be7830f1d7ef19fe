#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Gives up root once the sockets are bound (`user:` / `group:` in the config).
enum Privileges {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Switches the whole process to `user` (and `group`, or the user's own group). Warns when it
    /// keeps running as root. Supplementary groups are dropped first, while still root.
    static func drop(user: String?, group: String?, logger: Logger) throws {
        guard let user else {
            if geteuid() == 0 {
                logger.warning("running as root; set `user:` in the config to drop privileges once the sockets are bound")
            }
            return
        }
        guard let account = getpwnam(user) else { throw Failure(description: "user: no user named \"\(user)\"") }
        let uid = account.pointee.pw_uid
        var gid = account.pointee.pw_gid
        if let group {
            guard let entry = getgrnam(group) else { throw Failure(description: "group: no group named \"\(group)\"") }
            gid = entry.pointee.gr_gid
        }
        if geteuid() == uid { return }
        guard geteuid() == 0 else {
            throw Failure(description: "user: \"\(user)\" asked for, but only root can switch users (running as uid \(geteuid()))")
        }
        // glibc applies these to every thread of the process (the event loops are already running).
        guard setgroups(0, nil) == 0, setgid(gid) == 0, setuid(uid) == 0 else {
            throw Failure(description: "cannot switch to user \(user): \(String(cString: strerror(errno)))")
        }
        logger.info("dropped privileges", metadata: ["user": "\(user)", "uid": "\(uid)", "gid": "\(gid)"])
    }
}

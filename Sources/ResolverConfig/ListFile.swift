#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The bytes of a list file and what identifies this version of it (size, mtime, content hash),
/// so that a reload can tell an unchanged file from a changed one without parsing it again.
public struct ListFile: Sendable {
    public struct Identity: Sendable, Equatable {
        public let size: Int
        public let modified: timespec
        public let contentHash: UInt64

        public static func == (lhs: Identity, rhs: Identity) -> Bool {
            lhs.size == rhs.size && lhs.modified.tv_sec == rhs.modified.tv_sec
                && lhs.modified.tv_nsec == rhs.modified.tv_nsec && lhs.contentHash == rhs.contentHash
        }
    }

    public let bytes: [UInt8]
    public let identity: Identity

    public struct ReadError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Reads the whole file at `path`.
    public static func read(path: String, displayName: String? = nil) throws(ReadError) -> ListFile {
        let name = displayName ?? path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ReadError(path: name, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw ReadError(path: name, reason: String(cString: strerror(errno))) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw ReadError(path: name, reason: "is a directory") }
        let size = Int(info.st_size)
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: max(size, 1)) { buffer, count in
            count = 0
            while count < size {
                let got = Glibc.read(fd, buffer.baseAddress! + count, size - count)  // capacity >= size
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if got == 0 { break }  // file shrank while reading; take what is there
                count += got
            }
        }
        if failure != 0 { throw ReadError(path: name, reason: String(cString: strerror(failure))) }
        #if canImport(Glibc)
        let modified = info.st_mtim
        #else
        let modified = info.st_mtimespec
        #endif
        return ListFile(bytes: bytes, identity: Identity(size: bytes.count, modified: modified,
                                                         contentHash: Self.hash(bytes)))
    }

    /// 64-bit FNV-1a over 8-byte words: fast, and only compared within one process.
    static func hash(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        bytes.withUnsafeBytes { raw in
            let words = raw.count / 8
            for index in 0..<words {
                h = (h ^ raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) &* 0x0000_0100_0000_01b3
            }
            for index in (words * 8)..<raw.count {
                h = (h ^ UInt64(raw[index])) &* 0x0000_0100_0000_01b3
            }
        }
        return h ^ UInt64(bytes.count)
    }
}

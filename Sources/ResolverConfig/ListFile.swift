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

        /// For lists that are not files (the fuzzing build compiles lists made in memory).
        public init(size: Int, modified: timespec, contentHash: UInt64) {
            self.size = size
            self.modified = modified
            self.contentHash = contentHash
        }

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

    /// Reads the whole file at `path`; one larger than `limit` bytes is refused unread.
    public static func read(path: String, displayName: String? = nil, limit: Int = .max) throws(ReadError) -> ListFile {
        let name = displayName ?? path
        let (fd, info) = try openForReading(path, name: name)
        defer { close(fd) }
        let size = Int(info.st_size)
        if size > limit { throw ReadError(path: name, reason: "is \(size) bytes, more than the \(limit) allowed") }
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

    /// Size of the pieces `scan` and `forEachChunk` read.
    static let chunkSize = 4 << 20

    /// The identity of the file at `path` and its number of line ends (`LineEndCounter`), read a
    /// chunk at a time (the content hash needs every byte; the line ends size the parser's arena).
    public static func scan(path: String, displayName: String? = nil) throws(ReadError) -> (identity: Identity, newlines: Int) {
        var hasher = ChunkHasher()
        var lineEnds = LineEndCounter()
        let info = try forEachChunk(path: path, displayName: displayName) { chunk in
            hasher.add(chunk)
            lineEnds.add(chunk)
        }
        #if canImport(Glibc)
        let modified = info.st_mtim
        #else
        let modified = info.st_mtimespec
        #endif
        return (Identity(size: hasher.count, modified: modified, contentHash: hasher.finish()), lineEnds.count)
    }

    /// Calls `body` with successive pieces of the file at `path`; returns the file's `stat`.
    @discardableResult
    public static func forEachChunk(path: String, displayName: String? = nil,
                                    _ body: (ArraySlice<UInt8>) -> Void) throws(ReadError) -> stat {
        let name = displayName ?? path
        let (fd, info) = try openForReading(path, name: name)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: name, reason: String(cString: strerror(errno)))
            }
            if got == 0 { break }
            body(buffer[0..<got])
        }
        return info
    }

    /// Opens a regular file for reading; the caller closes the descriptor. Anything else is
    /// refused before a byte is read: a folder, and above all a FIFO (whose open or read waits
    /// for a writer forever) or a device such as /dev/zero (which never ends), either of which
    /// would hang a start or a reload.
    static func openForReading(_ path: String, name: String) throws(ReadError) -> (Int32, stat) {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait here for a writer.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 { throw ReadError(path: name, reason: String(cString: strerror(errno))) }
        var info = stat()
        if fstat(fd, &info) != 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ReadError(path: name, reason: reason)
        }
        if let kind = notRegular(info.st_mode) {
            close(fd)
            throw ReadError(path: name, reason: "is \(kind), not a regular file")
        }
        // A regular file: back to ordinary blocking reads.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (fd, info)
    }

    /// What a file of `mode` is, when it is not a regular file.
    static func notRegular(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }

    /// 64-bit FNV-1a over 8-byte words: fast, and only compared within one process.
    static func hash(_ bytes: [UInt8]) -> UInt64 {
        var hasher = ChunkHasher()
        hasher.add(bytes[...])
        return hasher.finish()
    }

    /// The line ends of a file fed a chunk at a time, as `ListLines` cuts it: its LFs, or the CRs
    /// of a file without any (old Mac files), which are only counted while no LF has been seen.
    struct LineEndCounter {
        private var lineFeeds = 0
        private var carriageReturns = 0

        mutating func add(_ chunk: ArraySlice<UInt8>) {
            lineFeeds += ListFile.count(of: UInt8(ascii: "\n"), in: chunk)
            if lineFeeds == 0 { carriageReturns += ListFile.count(of: UInt8(ascii: "\r"), in: chunk) }
        }

        var count: Int { lineFeeds > 0 ? lineFeeds : carriageReturns }
    }

    /// The index of the first `byte` in `bytes` at or after `start`: `memchr`, which a list of
    /// millions of lines searches faster than a loop over the bytes.
    @inline(__always)
    static func firstIndex(of byte: UInt8, in bytes: ArraySlice<UInt8>, from start: Int) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            let offset = start - bytes.startIndex
            guard offset < buffer.count, let base = buffer.baseAddress,
                  let found = memchr(base + offset, Int32(byte), buffer.count - offset)
            else { return nil }
            return start + (UnsafeRawPointer(found) - UnsafeRawPointer(base + offset))
        }
    }

    /// How many times `byte` occurs in `bytes`.
    static func count(of byte: UInt8, in bytes: ArraySlice<UInt8>) -> Int {
        var count = 0
        var index = bytes.startIndex
        while let found = firstIndex(of: byte, in: bytes, from: index) {
            count += 1
            index = found + 1
        }
        return count
    }

    /// The content hash fed a chunk at a time; chunks (but the last) must be multiples of 8 bytes
    /// for the result not to depend on how the file was cut, which `chunkSize` is.
    struct ChunkHasher {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var count = 0

        mutating func add(_ chunk: ArraySlice<UInt8>) {
            chunk.withUnsafeBytes { raw in
                let words = raw.count / 8
                for index in 0..<words {
                    h = (h ^ raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) &* 0x0000_0100_0000_01b3
                }
                for index in (words * 8)..<raw.count {
                    h = (h ^ UInt64(raw[index])) &* 0x0000_0100_0000_01b3
                }
            }
            count += chunk.count
        }

        func finish() -> UInt64 { h ^ UInt64(count) }
    }
}

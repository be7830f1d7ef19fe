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

    /// Hands memory that a load freed back to the system (glibc keeps freed heap pages, and a
    /// reload frees the parse buffers and, once every loop has moved on, the old policy). Runs
    /// off the event loops: it walks every malloc arena.
    static func releaseFreedMemory() {
        #if canImport(Glibc)
        // glibc's malloc_trim(3) is declared in <malloc.h>, which the Glibc module leaves out.
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        #endif
    }

    /// Allocations from this size up get pages of their own (mmap), given back when freed.
    static let mmapThreshold = 512 * 1024

    /// Fixes glibc's mmap threshold, which otherwise rises to the size of the largest block freed
    /// (up to 32 MiB): after the first list load freed its 4 MiB read buffer, the next one came
    /// from a thread's heap and its pages stayed resident for good (4.3 MiB of an idle process).
    /// Set once at start, before any thread but the main one allocates.
    static func keepLargeAllocationsOutOfTheHeap() {
        #if canImport(Glibc)
        // mallopt(3) is declared in <malloc.h>, which the Glibc module leaves out; M_MMAP_THRESHOLD is -3.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(-3, Int32(mmapThreshold))
        #endif
    }
}

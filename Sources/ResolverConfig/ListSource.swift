/// A list file that a `ListReader` has opened: identified, so that an unchanged file can be
/// reused without a parse, and either held in memory or to be read again a chunk at a time.
public enum ListSource: Sendable {
    /// The whole file, read and hashed.
    case loaded(ListFile)
    /// A file hashed and its newlines counted a chunk at a time but not kept, so that a list of
    /// millions of names never sits in memory as text and as parsed names at once.
    case scanned(path: String, displayName: String, identity: ListFile.Identity, newlines: Int)

    /// What identifies this version of the file.
    public var identity: ListFile.Identity {
        switch self {
        case .loaded(let file): return file.identity
        case .scanned(_, _, let identity, _): return identity
        }
    }
}

/// The process entry point, apart from the command's declaration so that a fuzzing build
/// (`-D FUZZING`: `scripts/fuzz`, docs/FUZZING.md) can leave it out: there libFuzzer's `main`
/// drives the process from `FuzzMain` (`Fuzz/FuzzTargets.swift`).
#if !FUZZING
@main
extension BlockResolverCommand {}
#endif

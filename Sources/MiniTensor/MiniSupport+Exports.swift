/// The package's shared helpers (`MappedFile`, `SystemCallError`, `writeFileAtomically`,
/// `AtomicFileWriter`, `SHA256`, the JSON parser and `jsonStringLiteral`) live in MiniSupport, below
/// MiniTensor; code that imports MiniTensor keeps reaching them by their names. They are
/// `package` declarations, so nothing of MiniSupport is visible outside MiniLLM.
@_exported import MiniSupport

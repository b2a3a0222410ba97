/// `JSONValue`, `JSONParser`, `JSONFailure`, `SHA256` and the other shared helpers live in
/// MiniSupport; code that imports MiniTokenize keeps reaching them by their names. They are
/// `package` declarations, so nothing of MiniSupport is visible outside MiniLLM.
@_exported import MiniSupport

import Foundation

/// A progress line on stderr: on a terminal one line rewritten in place (at most every
/// `terminalInterval` seconds), otherwise a plain line every 10 seconds.
final class StatusLine {
  let isTerminal = isatty(STDERR_FILENO) != 0
  private let interval: Double
  private var lastShown: Double
  private var lineOpen = false
  private let start = DispatchTime.now().uptimeNanoseconds

  init(terminalInterval: Double, firstShownAt: Double = 0) {
    interval = isTerminal ? terminalInterval : 10
    lastShown = firstShownAt
  }

  /// Seconds since the line was made.
  var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }

  /// Whether a line is due at `time` (or `always`); when it is, `time` counts as shown.
  func isDue(at time: Double, always: Bool = false) -> Bool {
    guard always || time - lastShown >= interval else { return false }
    lastShown = time
    return true
  }

  /// Shows `text`: rewrites the line on a terminal, prints it otherwise.
  func show(_ text: String) {
    if isTerminal {
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
      lineOpen = true
    } else {
      printError(text)
    }
  }

  /// Ends the rewritten line, if one is open.
  func finish() {
    if lineOpen {
      FileHandle.standardError.write(Data("\n".utf8))
      lineOpen = false
    }
  }
}

/// Holds back generated text that could be the start of a stop string, and cuts the text
/// before the first stop string, as OpenAI's `stop` does (the stop string is not returned).
///
/// Works on UTF-8 bytes of complete characters: a match of valid UTF-8 in valid UTF-8 always
/// starts on a character boundary, and so does a held-back tail equal to a stop string's
/// beginning, so every piece handed out is whole characters.
struct StopStrings: Sendable {
  private let stops: [[UInt8]]
  /// Every byte of text received.
  private var text: [UInt8] = []
  /// Bytes of `text` handed out.
  private var emitted = 0

  init(_ stops: [String]) {
    self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
  }

  /// Adds `piece` and returns the text now safe to hand out, and whether a stop string ended
  /// the reply (the text after it is dropped).
  mutating func append(_ piece: String) -> (text: String, stopped: Bool) {
    text.append(contentsOf: piece.utf8)
    guard !stops.isEmpty else { return (take(upTo: text.count), false) }
    // A new match must end in the new bytes, so it starts after emitted - longest + 1.
    let longest = stops.map(\.count).max()!
    let searchStart = max(0, emitted - longest + 1)
    var earliest: Int?
    for stop in stops {
      if let at = firstIndex(of: stop, from: searchStart), at < (earliest ?? Int.max) {
        earliest = at
      }
    }
    if let earliest { return (take(upTo: earliest), true) }
    // Keep back the longest tail that begins some stop string.
    var held = 0
    for stop in stops {
      for length in stride(from: min(stop.count - 1, text.count - emitted), to: held, by: -1)
      where text[(text.count - length)...].elementsEqual(stop[..<length]) {
        held = length
        break
      }
    }
    return (take(upTo: text.count - held), false)
  }

  /// The text held back, handed out when the reply ends for another reason.
  mutating func finish() -> String { take(upTo: text.count) }

  private mutating func take(upTo end: Int) -> String {
    guard end > emitted else { return "" }
    let piece = String(decoding: text[emitted..<end], as: UTF8.self)
    emitted = end
    return piece
  }

  private func firstIndex(of needle: [UInt8], from start: Int) -> Int? {
    guard text.count - start >= needle.count else { return nil }
    for i in start...(text.count - needle.count)
    where text[i] == needle[0] && text[i..<(i + needle.count)].elementsEqual(needle) {
      return i
    }
    return nil
  }
}
